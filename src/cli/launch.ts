// Start-up of the `qcow` executable: runs the one-file bundle of the CLI with the V8 code cache made when it was built.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Script } from 'node:vm'

/** What the bundle (dist/cli-bundle/qcow.cjs, built from cli/main.ts) exports that start-up uses. */
interface BundleExports {
  readonly runProcess: () => Promise<void>
}

/** The bundle that `npm run build` makes, relative to this module (dist/cli/). */
export const BUNDLE = fileURLToPath(new URL('../cli-bundle/qcow.cjs', import.meta.url))
/** Its code cache, beside it. */
export const BUNDLE_CACHE = `${BUNDLE}.cache`

/** A compiled bundle: its script (which can make a code cache) and what evaluating it exported. */
export interface LoadedBundle {
  readonly script: Script
  readonly exports: BundleExports
  /** V8 refused the code cache given (another Node version or other V8 flags): the bundle was compiled from source. */
  readonly cacheRejected: boolean
}

/**
 * Compiles and evaluates the CommonJS bundle at `file` as Node would, but through `vm.Script`, which
 * takes a code cache: Node 20 has no compile cache for ES modules, and without one V8 must parse the
 * whole bundle at every start. A cache V8 rejects only costs that parse.
 */
export const loadBundle = (file: string, cachedData: Buffer | undefined): LoadedBundle => {
  const source = readFileSync(file, 'utf8')
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData === undefined ? {} : { cachedData }),
  })
  const module = { exports: {} as BundleExports }
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void
  wrapper(module.exports, createRequire(file), module, file, dirname(file))
  return { script, exports: module.exports, cacheRejected: script.cachedDataRejected === true }
}

/** The code cache made at build time, or undefined when there is none. */
const readCache = (): Buffer | undefined => {
  try {
    return readFileSync(BUNDLE_CACHE)
  } catch {
    return undefined
  }
}

/** The bundle, or why it cannot be loaded (missing when only `tsc` was run: `npm run build` makes it). */
const loadOrExplain = (): LoadedBundle | string => {
  try {
    return loadBundle(BUNDLE, readCache())
  } catch (e) {
    return `cannot load ${BUNDLE} (run npm run build): ${e instanceof Error ? e.message : String(e)}`
  }
}

/** Runs `qcow` on the process's arguments from the bundle and sets the process exit code; never rejects. */
export const runBundled = async (): Promise<void> => {
  const bundle = loadOrExplain()
  if (typeof bundle !== 'string') return bundle.exports.runProcess()
  process.stderr.write(`qcow: ${bundle}\n`)
  process.exitCode = 1
}
