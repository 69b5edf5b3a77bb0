// Install step: builds native/ (lseek SEEK_DATA/SEEK_HOLE for FileBlock) with node-gyp. Never fails the install:
// without a compiler, headers or node-gyp it says why and exits 0, and FileBlock then reports every sector as data.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const native = join(dirname(fileURLToPath(import.meta.url)), '..', 'native')
const addon = join(native, 'build', 'Release', 'qcow_seek.node')
/** A build that takes longer than this is stuck (a header download on a closed network, say). */
const TIMEOUT_MS = 5 * 60 * 1000

const warn = (reason, output = '') => {
  const tail = output.trim().split('\n').slice(-15).join('\n')
  console.warn(`qcow-ts: hole detection for raw files is unavailable (${reason}); FileBlock will report every sector as data.`)
  if (tail !== '') console.warn(tail)
  process.exit(0)
}

/** npm hands its own node-gyp to install scripts; run by hand, the one bundled with the npm beside this node. */
const nodeGyp = [process.env.npm_config_node_gyp, join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')].find(
  (candidate) => candidate !== undefined && candidate !== '' && existsSync(candidate),
)
if (nodeGyp === undefined) warn('node-gyp was not found')

/** Node's own headers, installed beside the running node: used unless npm names a directory, so nothing is downloaded. */
const prefix = join(dirname(process.execPath), '..')
const nodedir = process.env.npm_config_nodedir === undefined && existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : []

const built = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--directory=${native}`, ...nodedir], { encoding: 'utf8', timeout: TIMEOUT_MS })
const output = `${built.stdout ?? ''}${built.stderr ?? ''}`
if (built.error !== undefined) warn(`node-gyp could not run: ${built.error.message}`, output)
if (built.status !== 0) warn(`node-gyp failed with exit code ${built.status}`, output)
try {
  const loaded = createRequire(import.meta.url)(addon)
  if (typeof loaded.seekData !== 'function' || typeof loaded.seekHole !== 'function') warn('the built addon lacks seekData/seekHole')
} catch (cause) {
  warn(`the built addon does not load: ${cause instanceof Error ? cause.message : String(cause)}`)
}
console.log('qcow-ts: built native/build/Release/qcow_seek.node (hole detection for raw files)')
