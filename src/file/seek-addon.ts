// Loads the native addon built at install time (native/, scripts/build-native.mjs): lseek with SEEK_DATA/SEEK_HOLE, which Node lacks.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What an addon call returns: the byte offset found, `'none'` (lseek failed with ENXIO), or a negative errno. */
export type SeekResult = number | 'none'

/** The addon: `lseek(fd, offset, SEEK_DATA)` and `lseek(fd, offset, SEEK_HOLE)`, failures as values. */
export interface SeekAddon {
  seekData(fd: number, offset: number): SeekResult
  seekHole(fd: number, offset: number): SeekResult
}

/** Where node-gyp puts the addon, under the package root. */
const ADDON = join('native', 'build', 'Release', 'qcow_seek.node')

/**
 * The addon's path: the first `native/build/Release/qcow_seek.node` in this module's directory or
 * one above it. The package root's depth differs when this runs from `src/file`, `dist/file` or a
 * bundle of the command line, so it is looked for rather than assumed.
 */
const findAddon = (): string | undefined => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, ADDON)
    if (existsSync(candidate)) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

const isSeekAddon = (m: unknown): m is SeekAddon =>
  typeof m === 'object' &&
  m !== null &&
  typeof (m as Partial<SeekAddon>).seekData === 'function' &&
  typeof (m as Partial<SeekAddon>).seekHole === 'function'

const load = (): SeekAddon | undefined => {
  const path = findAddon()
  if (path === undefined) return undefined
  try {
    const addon: unknown = createRequire(import.meta.url)(path)
    return isSeekAddon(addon) ? addon : undefined
  } catch {
    return undefined
  }
}

let loaded: { readonly addon: SeekAddon | undefined } | undefined

/** The addon (loaded on first use), or undefined when it was not built (no compiler at install time) or does not load. */
export const seekAddon = (): SeekAddon | undefined => {
  loaded ??= { addon: load() }
  return loaded.addon
}
