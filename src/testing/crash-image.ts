// CrashImage: one possible post-crash device state, readable as bytes or as a fresh RamDisk.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockError } from '../block/errors.js'
import { checkRange } from '../block/validate.js'
import { isZero } from '../block/buffers.js'
import { RamDisk, RAMDISK_SECTOR_SIZE, type RamDiskDevice } from '../ramdisk/index.js'
import type { CrashState } from './crash-log.js'

/** A device's contents as they could be after a power cut at cut point `cutAt`. */
export interface CrashImage {
  /** The number of recorded operations before the cut. */
  readonly cutAt: number
  readonly sectorSize: number
  readonly sizeSectors: number
  /** Writes issued before the cut that no completed flush covered: each of their sectors was kept or lost. */
  readonly unflushedWrites: number
  /** Copies `sectors` sectors from `sector`. */
  read(sector: number, sectors: number): E.Either<BlockError, Uint8Array>
  /** The whole contents, `sizeSectors * sectorSize` bytes. */
  bytes(): Uint8Array
  /** A fresh, independent RamDisk holding these contents (the size must be a multiple of 512 bytes). */
  toRamDisk(): TE.TaskEither<BlockError, RamDiskDevice>
}

/** Wraps a crash state as a `CrashImage`. */
export const crashImageOf = (state: CrashState): CrashImage => {
  const { image, sizeSectors, cutAt, unflushedWrites } = state
  const sectorSize = image.sectorSize
  const read = (sector: number, sectors: number): E.Either<BlockError, Uint8Array> => {
    const inRange = checkRange(sector, sectors, sizeSectors)
    if (E.isLeft(inRange)) return inRange
    const out = new Uint8Array(sectors * sectorSize)
    image.readInto(sector, sectors, out)
    return E.right(out)
  }
  const bytes = (): Uint8Array => {
    const out = new Uint8Array(sizeSectors * sectorSize)
    image.readInto(0, sizeSectors, out)
    return out
  }
  const toRamDisk = (): TE.TaskEither<BlockError, RamDiskDevice> => async () => {
    const opened = await RamDisk.connect({ size: sizeSectors * sectorSize })()
    if (E.isLeft(opened)) return opened
    const pieces: Array<[number, Uint8Array]> = []
    image.forEachChunk(sizeSectors, (first, chunk) => {
      if (!isZero(chunk)) pieces.push([first, chunk])
    })
    for (const [first, chunk] of pieces) {
      const written = await opened.right.write((first * sectorSize) / RAMDISK_SECTOR_SIZE, [chunk])()
      if (E.isLeft(written)) return written
    }
    return opened
  }
  return { cutAt, sectorSize, sizeSectors, unflushedWrites, read, bytes, toRamDisk }
}
