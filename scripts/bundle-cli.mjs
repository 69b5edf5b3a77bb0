// npm run build's second step: bundles the built CLI (DIST/cli/main.js) into one file, DIST/cli-bundle/qcow.cjs, with
// a V8 code cache beside it; bin/qcow.js runs it through DIST/cli/launch.js. One file instead of ~190 modules saves
// resolving, reading and linking them at every start, and the cache saves parsing the bundle.
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'rolldown'

const dist = resolve(process.argv[2] ?? 'dist')
const out = join(dist, 'cli-bundle')
if (basename(out) !== 'cli-bundle') throw new Error(`refusing to replace ${out}`)
await rm(out, { recursive: true, force: true })
await mkdir(out)
await build({
  input: join(dist, 'cli', 'main.js'),
  platform: 'node',
  // fp-ts and io-ts ship ES modules beside their CommonJS lib/: the bundle takes those, which it can tree-shake.
  resolve: { alias: { 'fp-ts/lib': 'fp-ts/es6', 'io-ts/lib': 'io-ts/es6' } },
  output: {
    file: join(out, 'qcow.cjs'),
    format: 'cjs',
    // One file: subcommand modules, imported on demand, are still evaluated only when imported.
    codeSplitting: false,
    // Not minified: with the code cache that would save under a millisecond, and the bundle keeps a
    // `// path` line before each module's code, which bench/report/profile.ts maps profiles back with.
    minify: false,
  },
  logLevel: 'warn',
})
// The cache of the bundle as compiled by evaluating it (what every start compiles), made by the launcher itself.
const { BUNDLE, BUNDLE_CACHE, loadBundle } = await import(pathToFileURL(join(dist, 'cli', 'launch.js')).href)
if (resolve(BUNDLE) !== join(out, 'qcow.cjs')) throw new Error(`the launcher loads ${BUNDLE}, not ${join(out, 'qcow.cjs')}`)
await writeFile(BUNDLE_CACHE, loadBundle(BUNDLE, undefined).script.createCachedData())
