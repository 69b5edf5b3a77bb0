// The copy loop of `qcow convert`: several chunks read at once into reused buffers, their non-zero granules written in disk order.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { readInto, writeBytes } from './bytes.js'
import { dataRanges, extentsOf } from './extents.js'
import type { CliFailure } from './failure.js'
import type { Image } from './image.js'
import type { Progress } from './progress.js'
import { alignRanges, clipRanges, piecesOf, type Range } from './ranges.js'
import { zeroAt } from './zeroes.js'

/** Bytes per chunk: qemu-img convert's buffer size. */
const CHUNK = 2 * 1024 * 1024
/** Chunks in flight: qemu-img convert's default of 8 coroutines (`-m 8`). */
const DEPTH = 8

/**
 * Writes the non-zero granules of `data` (which starts at byte `start` of the disk) to `dst`, each
 * run of neighbouring non-zero granules as one request.
 */
const writeNonZero = async (dst: Image, start: number, data: Uint8Array, granule: number): Promise<E.Either<CliFailure, void>> => {
  const write = (from: number, to: number) => writeBytes(dst, start + from, data.subarray(from, to))()
  let runStart = -1
  for (let at = 0; at < data.byteLength; ) {
    const next = Math.min(data.byteLength, (Math.floor((start + at) / granule) + 1) * granule - start)
    if (!zeroAt(data, at, next - at)) {
      if (runStart < 0) runStart = at
    } else if (runStart >= 0) {
      const written = await write(runStart, at)
      if (E.isLeft(written)) return written
      runStart = -1
    }
    at = next
  }
  return runStart >= 0 ? write(runStart, data.byteLength) : E.right(undefined)
}

/**
 * Copies `ranges` of `src` to `dst`, leaving zero granules unwritten. Like qemu-img convert (`-m 8`,
 * without `-W`), up to DEPTH chunks are read at once while their writes are issued strictly in disk
 * order, one after another, so a new qcow2 image is laid out as qemu-img lays it out. Each reader
 * reuses one buffer; everything started has finished when the result is known.
 */
const copyRanges = (src: Image, dst: Image, ranges: ReadonlyArray<Range>, granule: number, progress: Progress): TE.TaskEither<CliFailure, void> =>
  async () => {
    const pieces = piecesOf(ranges, CHUNK)
    let failed: CliFailure | undefined
    let writes: Promise<void> = Promise.resolve()
    const reader = async (): Promise<void> => {
      let buffer: Uint8Array | undefined
      for (let piece = pieces.next(); !piece.done && failed === undefined; piece = pieces.next()) {
        const [start, end] = piece.value
        buffer ??= new Uint8Array(CHUNK)
        const data = buffer.subarray(0, end - start)
        const read = readInto(src, start, data)()
        const written = writes.then(async () => {
          const r = await read
          if (failed !== undefined) return
          const w = E.isLeft(r) ? r : await writeNonZero(dst, start, data, granule)
          if (E.isLeft(w)) failed = w.left
          else progress.update(end)
        })
        writes = written
        await written
      }
    }
    await Promise.all(Array.from({ length: DEPTH }, reader))
    return failed === undefined ? E.right(undefined) : E.left(failed)
  }

/**
 * Copies every non-zero byte of `src` to `dst` (same size), updating `progress`. Only the granules
 * that may hold data are read (what the source's map shows as zero, a raw source's holes among it, is
 * skipped), each whole, as qemu-img does.
 */
export const copyImage = (src: Image, dst: Image, granule: number, progress: Progress): TE.TaskEither<CliFailure, void> =>
  pipe(
    extentsOf(src),
    TE.chain((extents) => copyRanges(src, dst, clipRanges(alignRanges(dataRanges(extents), granule), 0, src.sizeBytes), granule, progress)),
    TE.map(() => progress.update(src.sizeBytes)),
  )
