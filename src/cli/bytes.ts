// Byte-addressed reads, writes and zeroing on a sector device (read-modify-write at unaligned ends).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { isZero } from '../index.js'
import { fromQcowError, type CliFailure } from './failure.js'
import { SECTOR } from './format.js'
import type { Image } from './image.js'
import { discardQcow, writeZeroesQcow } from './maintenance.js'

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

/** Reads `target.byteLength` bytes at byte `offset` into `target` (straight from the device when both are whole sectors). */
export const readInto = (image: Image, offset: number, target: Uint8Array): TE.TaskEither<CliFailure, void> =>
  offset % SECTOR === 0 && target.byteLength % SECTOR === 0
    ? pipe(
        target.byteLength === 0 ? TE.right(undefined) : image.disk.read(offset / SECTOR, [target]),
        TE.mapLeft(fromQcowError(image.path)),
      )
    : pipe(
        readBytes(image, offset, target.byteLength),
        TE.map((bytes) => target.set(bytes)),
      )

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

/** Bytes examined per step when zeroing by data. */
const ZERO_CHUNK = 1024 * 1024
/** Zeroing by data writes whole granules of this size that are not already zero. */
const ZERO_GRANULE = 4096

/**
 * Zeroes `[offset, offset + length)` by writing zero bytes, but only over granules that do not
 * already read as zeroes, so holes and unallocated clusters stay unallocated.
 */
const zeroByData = (image: Image, offset: number, length: number): TE.TaskEither<CliFailure, void> => async () => {
  for (let at = offset; at < offset + length; at += ZERO_CHUNK) {
    const n = Math.min(ZERO_CHUNK, offset + length - at)
    const current = await readBytes(image, at, n)()
    if (E.isLeft(current)) return current
    const data = current.right
    for (let g = 0; g < n; ) {
      const next = Math.min(n, (Math.floor((at + g) / ZERO_GRANULE) + 1) * ZERO_GRANULE - at)
      const piece = data.subarray(g, next)
      if (!isZero(piece)) {
        const written = await writeBytes(image, at + g, new Uint8Array(piece.byteLength))()
        if (E.isLeft(written)) return written
      }
      g = next
    }
  }
  return E.right(undefined)
}

/** How the whole sectors of a zeroed range are handled. */
export type ZeroMode = 'zero' | 'zero-unmap' | 'discard'

/**
 * Makes `[offset, offset + length)` read as zeroes. Whole sectors of a qcow2 image use the engine's
 * discard or zero write; everything else is zeroed by data where it is not zero already.
 */
export const zeroBytes = (image: Image, offset: number, length: number, mode: ZeroMode): TE.TaskEither<CliFailure, void> => {
  const { head, sector, sectors, tailStart, tail } = splitAligned(offset, length)
  const qcow = image.qcow
  const middle = (): TE.TaskEither<CliFailure, void> =>
    sectors === 0
      ? TE.right(undefined)
      : qcow === undefined
        ? zeroByData(image, sector * SECTOR, sectors * SECTOR)
        : mode === 'discard'
          ? discardQcow(image.path, qcow, sector, sectors)
          : writeZeroesQcow(image.path, qcow, sector, sectors, mode === 'zero-unmap')
  return pipe(
    zeroByData(image, offset, head),
    TE.chain(middle),
    TE.chain(() => zeroByData(image, tailStart, tail)),
  )
}
