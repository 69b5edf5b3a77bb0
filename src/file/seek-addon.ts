// Loads the native addon built at install time (native/, scripts/build-native.mjs): lseek with SEEK_DATA/SEEK_HOLE, which Node lacks.
import { createRequire } from 'node:module'

/** What an addon call returns: the byte offset found, `'none'` (lseek failed with ENXIO), or a negative errno. */
export type SeekResult = number | 'none'

/** The addon: `lseek(fd, offset, SEEK_DATA)` and `lseek(fd, offset, SEEK_HOLE)`, failures as values. */
export interface SeekAddon {
  seekData(fd: number, offset: number): SeekResult
  seekHole(fd: number, offset: number): SeekResult
}

/** Where node-gyp puts the addon, from this module in `src/file` or `dist/file` alike. */
const ADDON_PATH = '../../native/build/Release/qcow_seek.node'

const isSeekAddon = (m: unknown): m is SeekAddon =>
  typeof m === 'object' &&
  m !== null &&
  typeof (m as Partial<SeekAddon>).seekData === 'function' &&
  typeof (m as Partial<SeekAddon>).seekHole === 'function'

const load = (): SeekAddon | undefined => {
  try {
    const loaded: unknown = createRequire(import.meta.url)(ADDON_PATH)
    return isSeekAddon(loaded) ? loaded : undefined
  } catch {
    return undefined
  }
}

/** The addon, or undefined when it was not built (no compiler at install time) or does not load. */
export const seekAddon: SeekAddon | undefined = load()
