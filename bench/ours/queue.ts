// Runs a request stream against a device with a fixed number of requests in flight, like `qemu-img bench`.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import type { IoPattern } from '../spec.js'

/** Sector size of every device the bench drives. */
export const SECTOR_BYTES = 512

/** Byte offset of request `index`: `index * step` wrapped to the image, as qemu-img 7.2 does. */
export const requestOffset = (pattern: IoPattern, imageBytes: number, index: number): number =>
  (index * pattern.stepBytes) % imageBytes

/** Fills a buffer with a deterministic non-zero pattern, so writes carry real data. */
export const patternBuffer = (bytes: number, seed: number): Uint8Array => {
  const buffer = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) buffer[i] = (i * 31 + seed * 7 + 1) & 0xff
  return buffer
}

/** One request buffer per lane (`depth` lanes, fewer when the stream is shorter), made before anything is timed. */
export const laneBuffers = (pattern: IoPattern, depth: number): ReadonlyArray<ReadonlyArray<Uint8Array>> =>
  Array.from({ length: Math.min(depth, pattern.count) }, (_, lane) => [patternBuffer(pattern.requestBytes, lane)])

/**
 * Sends the stream's requests to `device` with one request in flight per lane of `buffers`; resolves
 * with the elapsed seconds, or the first error rendered by `describe`.
 */
export const runStream = async (
  device: BlockDevice<unknown>,
  pattern: IoPattern,
  imageBytes: number,
  buffers: ReadonlyArray<ReadonlyArray<Uint8Array>>,
  describe: (error: unknown) => string,
): Promise<E.Either<string, number>> => {
  let next = 0
  let failure: string | undefined
  const lane = async (own: ReadonlyArray<Uint8Array>): Promise<void> => {
    while (failure === undefined && next < pattern.count) {
      const sector = requestOffset(pattern, imageBytes, next++) / SECTOR_BYTES
      const result = await (pattern.write ? device.write(sector, own) : device.read(sector, own))()
      if (E.isLeft(result)) failure = describe(result.left)
    }
  }
  const started = performance.now()
  await Promise.all(buffers.map(lane))
  const seconds = (performance.now() - started) / 1000
  return failure === undefined ? E.right(seconds) : E.left(failure)
}
