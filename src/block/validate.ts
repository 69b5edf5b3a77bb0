// Validation of sector ranges and buffer lists, shared by every device so none writes it again.
import * as E from 'fp-ts/lib/Either.js'
import { misaligned, outOfRange, type BlockError } from './errors.js'

const isSectorNumber = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** Checks that `sectors` sectors from `sector` lie inside a device of `sizeSectors` sectors. */
export const checkRange = (sector: number, sectors: number, sizeSectors: number): E.Either<BlockError, void> => {
  if (!isSectorNumber(sector)) return E.left(outOfRange(sector, sectors, sizeSectors, 'the sector is not a non-negative safe integer'))
  if (!isSectorNumber(sectors)) return E.left(outOfRange(sector, sectors, sizeSectors, 'the sector count is not a non-negative safe integer'))
  if (sector + sectors > sizeSectors) return E.left(outOfRange(sector, sectors, sizeSectors, 'it reaches past the end of the device'))
  return E.right(undefined)
}

/** Checks the start of a `seekMapped`/`seekUnmapped` request and returns it, capped at the device's end. */
export const checkSeekStart = (fromSector: number, sizeSectors: number): E.Either<BlockError, number> =>
  isSectorNumber(fromSector)
    ? E.right(Math.min(fromSector, sizeSectors))
    : E.left(outOfRange(fromSector, 0, sizeSectors, 'the sector is not a non-negative safe integer'))

/** Returns the number of sectors the buffers cover, or `Misaligned` when one is not whole sectors. */
export const countSectors = (buffers: ReadonlyArray<Uint8Array>, sectorSize: number): E.Either<BlockError, number> => {
  if (!Array.isArray(buffers)) return E.left(misaligned('the buffers must be given as an array'))
  let bytes = 0
  for (let i = 0; i < buffers.length; i++) {
    const b = buffers[i]
    if (!(b instanceof Uint8Array)) return E.left(misaligned(`buffer ${i} is not a Uint8Array`))
    if (b.byteLength % sectorSize !== 0) {
      return E.left(misaligned(`buffer ${i} has ${b.byteLength} bytes, not a whole number of ${sectorSize}-byte sectors`))
    }
    bytes += b.byteLength
  }
  return E.right(bytes / sectorSize)
}

/** Checks a read or write request: whole-sector buffers and a range inside the device. Returns its sector count. */
export const checkRequest = (
  sector: number,
  buffers: ReadonlyArray<Uint8Array>,
  sectorSize: number,
  sizeSectors: number,
): E.Either<BlockError, number> => {
  const counted = countSectors(buffers, sectorSize)
  if (E.isLeft(counted)) return counted
  const inRange = checkRange(sector, counted.right, sizeSectors)
  return E.isLeft(inRange) ? inRange : counted
}

/** Converts a size in bytes to sectors, refusing sizes that are not a whole number of sectors. */
export const bytesToSectors = (bytes: number, sectorSize: number): E.Either<BlockError, number> =>
  !Number.isSafeInteger(bytes) || bytes < 0
    ? E.left(misaligned(`size ${bytes} is not a non-negative safe integer number of bytes`))
    : bytes % sectorSize !== 0
      ? E.left(misaligned(`size ${bytes} bytes is not a multiple of the ${sectorSize}-byte sector size`))
      : E.right(bytes / sectorSize)
