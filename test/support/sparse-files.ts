// Sparse files for the hole-detection tests: the file systems to make them on, writing chosen byte ranges, and a CI-aware gate on the native addon.
import { existsSync } from 'node:fs'
import { mkdtemp, open, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { seekAddon } from '../../src/file/seek-addon.js'
import { describeRequiring } from './qemu.js'

/** statfs magic numbers of file systems known to report holes through lseek SEEK_DATA/SEEK_HOLE. */
const REPORTS_HOLES: ReadonlyMap<number, string> = new Map([
  [0x01021994, 'tmpfs'],
  [0xef53, 'ext4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
])

/** A directory for test files on one file system; `knownName` is set when that file system is known to report holes. */
export interface FsDir {
  readonly label: string
  readonly path: string
  readonly knownName: string | undefined
  remove(): Promise<void>
}

/** Fresh directories under the system's temporary directory and, when it exists, /dev/shm (tmpfs). */
const fsDirs = async (): Promise<FsDir[]> => {
  const parents = [tmpdir(), ...(existsSync('/dev/shm') ? ['/dev/shm'] : [])]
  return Promise.all(
    parents.map(async (parent) => {
      const path = await mkdtemp(join(parent, 'qcow-ts-holes-'))
      const known = REPORTS_HOLES.get(Number((await statfs(path)).type))
      return { label: parent, path, knownName: known, remove: () => rm(path, { recursive: true, force: true }) }
    }),
  )
}

/** Registers hooks giving the current describe block the directories of `fsDirs`, removed after it; read the result inside tests. */
export const useFsDirs = (): { dirs(): ReadonlyArray<FsDir> } => {
  let dirs: FsDir[] = []
  beforeAll(async () => {
    dirs = await fsDirs()
  })
  afterAll(async () => {
    for (const d of dirs) await d.remove()
  })
  return { dirs: () => dirs }
}

/** Bytes written at a byte offset. */
export interface Piece {
  readonly offset: number
  readonly bytes: Uint8Array
}

/** Creates `path` as a sparse file of `size` bytes holding only `pieces` (written in order, past `size` too). */
export const writeSparse = async (path: string, size: number, pieces: ReadonlyArray<Piece>): Promise<void> => {
  const file = await open(path, 'w')
  try {
    await file.truncate(size)
    for (const p of pieces) await file.write(p.bytes, 0, p.bytes.byteLength, p.offset)
  } finally {
    await file.close()
  }
}

const missing = 'the native addon (native/build/Release/qcow_seek.node) is not built; run npm run build:native'

/**
 * `describe` for tests that need the native addon: runs when it loads, is skipped with a message
 * without it, and fails in CI (`CI=true`), whose machines have a compiler and must build it.
 */
export const describeWithAddon = (name: string, body: () => void): void =>
  describeRequiring(name, seekAddon() === undefined ? { short: 'the native addon', available: false, missing } : { short: 'the native addon', available: true }, body)
