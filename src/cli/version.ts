// The package version for `qcow --version`, read from package.json and decoded with io-ts.
import { readFileSync } from 'node:fs'
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as t from 'io-ts/lib/index.js'

const PackageJson = t.type({ version: t.string })

/** The version field of the package.json two levels above this module (src/cli or dist/cli). */
export const packageVersion = (): string =>
  pipe(
    E.tryCatch(
      () => JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as unknown,
      () => undefined,
    ),
    E.chainW((json) => PackageJson.decode(json)),
    E.match(
      () => 'unknown',
      (p) => p.version,
    ),
  )
