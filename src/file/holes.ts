// Sector-granular hole detection on an open file: the first sector holding data, or the first sector wholly in a hole, from lseek SEEK_DATA/SEEK_HOLE.
import * as E from 'fp-ts/lib/Either.js'
import { constants } from 'node:os'
import type { SeekAddon } from './seek-addon.js'

const SECTOR = 512

/** lseek failures meaning the file system cannot tell holes; the file then counts as data throughout (as qemu does). */
const CANNOT_TELL = new Set([constants.errno.EINVAL, constants.errno.ENOTSUP, constants.errno.EOPNOTSUPP, constants.errno.ENOSYS])

/** An addon answer: a byte offset, `'none'` (ENXIO), or `'unknown'` (holes cannot be told on this file). */
type Answer = number | 'none' | 'unknown'

const errnoName = (errno: number): string =>
  Object.entries(constants.errno).find(([, value]) => value === errno)?.[0] ?? `errno ${errno}`

/**
 * Checks one addon result for a seek from byte `offset` (an offset found must not lie before it) and
 * turns a negative errno into `'unknown'` or an error carrying its code.
 */
const decode = (what: string, offset: number, result: unknown): E.Either<Error, Answer> => {
  if (result === 'none') return E.right('none')
  if (typeof result !== 'number' || !Number.isSafeInteger(result) || (result >= 0 && result < offset)) {
    return E.left(new Error(`lseek ${what} from byte ${offset} returned ${String(result)}`))
  }
  if (result >= 0) return E.right(result)
  if (CANNOT_TELL.has(-result)) return E.right('unknown')
  const code = errnoName(-result)
  return E.left(Object.assign(new Error(`${code}: lseek ${what} failed`), { code }))
}

/**
 * The first sector at or after `from` (below `size`, the size in sectors) holding any data byte, or
 * `size` when none does. A data start is rounded down to its sector, so every sector skipped lies
 * wholly in a hole or past the end of the file and reads as zeroes.
 */
export const firstDataSector = (addon: SeekAddon, fd: number, from: number, size: number): E.Either<Error, number> => {
  const found = decode('SEEK_DATA', from * SECTOR, addon.seekData(fd, from * SECTOR))
  if (E.isLeft(found)) return found
  const at = found.right
  if (at === 'unknown') return E.right(from)
  if (at === 'none') return E.right(size)
  return E.right(Math.min(size, Math.max(from, Math.floor(at / SECTOR))))
}

/**
 * The first sector at or after `from` (below `size`) lying wholly in a hole or past the end of the
 * file, or `size` when none does. A hole start is rounded up to a sector, and a sector is taken only
 * when no data begins inside it, so the sector returned always reads as zeroes.
 */
export const firstHoleSector = (addon: SeekAddon, fd: number, from: number, size: number): E.Either<Error, number> => {
  let position = from * SECTOR
  for (;;) {
    const hole = decode('SEEK_HOLE', position, addon.seekHole(fd, position))
    if (E.isLeft(hole)) return hole
    if (hole.right === 'unknown') return E.right(size)
    if (hole.right === 'none') return E.right(Math.min(size, Math.ceil(position / SECTOR)))
    const sector = Math.ceil(hole.right / SECTOR)
    if (sector >= size) return E.right(size)
    const data = decode('SEEK_DATA', sector * SECTOR, addon.seekData(fd, sector * SECTOR))
    if (E.isLeft(data)) return data
    if (data.right === 'unknown') return E.right(size)
    if (data.right === 'none' || data.right >= (sector + 1) * SECTOR) return E.right(sector)
    if (data.right <= position) return E.left(new Error(`lseek found both data and a hole at byte ${data.right}`))
    position = data.right
  }
}
