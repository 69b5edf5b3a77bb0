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
 * Chunks whose writes may run at once. The writes of a chunk are issued only after those of the
 * chunk before it, so they still reach the device in disk order; letting the next chunk's writes
 * start before the previous ones finish hides the per-request work of the image (allocation, L2
 * update, dispatch), which with one chunk at a time sat between every two writes.
 */
const WRITE_DEPTH = 2

/** The runs of neighbouring non-zero granules of `data`, which starts at byte `start` of the disk, as offsets into `data`. */
const nonZeroRuns = (start: number, data: Uint8Array, granule: number): Range[] => {
  const runs: Range[] = []
  let runStart = -1
  for (let at = 0; at < data.byteLength; ) {
    const next = Math.min(data.byteLength, (Math.floor((start + at) / granule) + 1) * granule - start)
    if (!zeroAt(data, at, next - at)) {
      if (runStart < 0) runStart = at
    } else if (runStart >= 0) {
      runs.push([runStart, at])
      runStart = -1
    }
    at = next
  }
  if (runStart >= 0) runs.push([runStart, data.byteLength])
  return runs
}

/**
 * Copies `ranges` of `src` to `dst`, leaving zero granules unwritten. Like qemu-img convert (`-m 8`,
 * without `-W`), up to DEPTH chunks are read at once while writes are issued strictly in disk order:
 * a chunk's writes start once the previous chunk's have been issued and those WRITE_DEPTH chunks back
 * have finished. Each reader reuses one buffer; everything started has finished when the result is
 * known.
 */
const copyRanges = (src: Image, dst: Image, ranges: ReadonlyArray<Range>, granule: number, progress: Progress): TE.TaskEither<CliFailure, void> =>
  async () => {
    const pieces = piecesOf(ranges, CHUNK)
    let failed: CliFailure | undefined
    let issued: Promise<void> = Promise.resolve()
    const finished: Array<Promise<void>> = []
    let count = 0
    const writeChunk = async (start: number, data: Uint8Array, read: Promise<E.Either<CliFailure, void>>, markIssued: () => void): Promise<void> => {
      const r = await read
      if (E.isLeft(r)) failed ??= r.left
      if (failed !== undefined) return markIssued()
      let writes: Array<Promise<E.Either<CliFailure, void>>>
      try {
        writes = nonZeroRuns(start, data, granule).map(([from, to]) => writeBytes(dst, start + from, data.subarray(from, to))())
      } finally {
        markIssued()
      }
      for (const w of await Promise.all(writes)) if (E.isLeft(w)) failed ??= w.left
      if (failed === undefined) progress.update(start + data.byteLength)
    }
    const reader = async (): Promise<void> => {
      let buffer: Uint8Array | undefined
      for (let piece = pieces.next(); !piece.done && failed === undefined; piece = pieces.next()) {
        const [start, end] = piece.value
        const slot = count++ % WRITE_DEPTH
        buffer ??= new Uint8Array(CHUNK)
        const data = buffer.subarray(0, end - start)
        const read = readInto(src, start, data)()
        const mayStart = Promise.all([issued, finished[slot]])
        let markIssued!: () => void
        issued = new Promise((resolve) => (markIssued = resolve))
        const written = mayStart.then(() => writeChunk(start, data, read, markIssued))
        finished[slot] = written
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
