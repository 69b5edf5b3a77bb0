// Byte-addressed reads, writes and zeroing on a sector device (read-modify-write at unaligned ends).
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { fromQcowError, type CliFailure } from './failure.js'
import { SECTOR } from './format.js'
import type { Image } from './image.js'
import { writeZeroesQcow } from './maintenance.js'


/** Reads `length` bytes at byte `offset` (any alignment). */
export const readBytes = (image: Image, offset: number, length: number): TE.TaskEither<CliFailure, Uint8Array> => {
  const first = Math.floor(offset / SECTOR)
  const end = Math.ceil((offset + length) / SECTOR)
  const window = new Uint8Array((end - first) * SECTOR)
  const skip = offset - first * SECTOR
  return pipe(
    length === 0 ? TE.right(undefined) : image.disk.read(first, [window]),
    TE.mapLeft(fromQcowError(image.path)),
    TE.map(() => (skip === 0 && length === window.byteLength ? window : window.subarray(skip, skip + length))),
  )
}

/** Writes `data` at byte `offset`; partial sectors at either end are read, patched and written back. */
export const writeBytes = (image: Image, offset: number, data: Uint8Array): TE.TaskEither<CliFailure, void> => {
  if (data.byteLength === 0) return TE.right(undefined)
  const first = Math.floor(offset / SECTOR)
  const end = Math.ceil((offset + data.byteLength) / SECTOR)
  const aligned = offset % SECTOR === 0 && data.byteLength % SECTOR === 0
  const write = (bytes: Uint8Array) => pipe(image.disk.write(first, [bytes]), TE.mapLeft(fromQcowError(image.path)))
  if (aligned) return write(data)
  return pipe(
    readBytes(image, first * SECTOR, (end - first) * SECTOR),
    TE.chain((window) => {
      window.set(data, offset - first * SECTOR)
      return write(window)
    }),
  )
}

/** The whole sectors inside `[offset, offset + length)`, and the unaligned bytes around them. */
const splitAligned = (offset: number, length: number) => {
  const headEnd = Math.min(offset + length, Math.ceil(offset / SECTOR) * SECTOR)
  const tailStart = Math.max(headEnd, Math.floor((offset + length) / SECTOR) * SECTOR)
  return { head: headEnd - offset, sector: headEnd / SECTOR, sectors: (tailStart - headEnd) / SECTOR, tailStart, tail: offset + length - tailStart }
}

const MAX_ZERO_CHUNK = 1024 * 1024

const writeZeroData = (image: Image, offset: number, length: number): TE.TaskEither<CliFailure, void> => {
  const step = (at: number): TE.TaskEither<CliFailure, void> =>
    at >= offset + length
      ? TE.right(undefined)
      : pipe(
          writeBytes(image, at, new Uint8Array(Math.min(MAX_ZERO_CHUNK, offset + length - at))),
          TE.chain(() => step(at + MAX_ZERO_CHUNK)),
        )
  return step(offset)
}

/** How the whole sectors of a zeroed range are handled. */
export type ZeroMode = 'zero' | 'zero-unmap' | 'discard'

/**
 * Makes `[offset, offset + length)` read as zeroes: unaligned ends are written with zero bytes;
 * whole sectors use the device's discard or zero write when it has one, else zero data.
 */
export const zeroBytes = (image: Image, offset: number, length: number, mode: ZeroMode): TE.TaskEither<CliFailure, void> => {
  const { head, sector, sectors, tailStart, tail } = splitAligned(offset, length)
  const disk = image.disk
  const middle = (): TE.TaskEither<CliFailure, void> => {
    if (sectors === 0) return TE.right(undefined)
    if (mode === 'discard' && disk.discard !== undefined) {
      return pipe(disk.discard(sector, sectors), TE.mapLeft(fromQcowError(image.path)))
    }
    const viaQcow = image.qcow === undefined ? undefined : writeZeroesQcow(image.path, image.qcow, sector, sectors, mode !== 'zero')
    if (viaQcow !== undefined) return viaQcow
    if (image.qcow === undefined && disk.writeZeroes !== undefined) {
      return pipe(disk.writeZeroes(sector, sectors), TE.mapLeft(fromQcowError(image.path)))
    }
    return writeZeroData(image, sector * SECTOR, sectors * SECTOR)
  }
  return pipe(
    writeZeroData(image, offset, head),
    TE.chain(middle),
    TE.chain(() => writeZeroData(image, tailStart, tail)),
  )
}
