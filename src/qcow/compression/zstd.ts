// The zstd codec (compression type 1): decodes QEMU's zstd frames into exactly one cluster.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Decompress } from 'fzstd'
import { corrupt, unsupportedFeature, type QcowError } from '../errors.js'
import type { ClusterCodec } from './index.js'
import { locateFrame, windowDescriptorFor, type ZstdFrame } from './zstd-frame.js'

/** Thrown inside the decoder's data callback to stop a frame that regenerates too much. */
class Overflow {}

/**
 * Decodes one frame into `output` from `at`, returning the bytes written. The frame's window is capped
 * at what the remaining output can need, so the decoder never allocates more than about a cluster.
 */
const decodeFrame = (input: Uint8Array, frame: ZstdFrame, output: Uint8Array, at: number): E.Either<string, number> => {
  const room = output.byteLength - at
  if (frame.contentSize !== undefined && frame.contentSize > room) {
    return E.left(`zstd frame content size ${frame.contentSize} exceeds the ${room} bytes left in the cluster`)
  }
  let bytes = input.subarray(frame.start, frame.end)
  if (frame.windowDescriptorAt >= 0 && frame.windowSize > Math.max(room, 1024)) {
    bytes = bytes.slice()
    bytes[frame.windowDescriptorAt - frame.start] = windowDescriptorFor(room)
  }
  let written = 0
  const decoder = new Decompress((chunk) => {
    if (written + chunk.byteLength > room) throw new Overflow()
    output.set(chunk, at + written)
    written += chunk.byteLength
  })
  try {
    decoder.push(bytes, true)
  } catch (cause) {
    return E.left(cause instanceof Overflow ? 'zstd frame regenerates more than one cluster' : `invalid zstd frame (${String(cause)})`)
  }
  if (frame.contentSize !== undefined && written !== frame.contentSize) {
    return E.left(`zstd frame regenerated ${written} bytes, its header says ${frame.contentSize}`)
  }
  return E.right(written)
}

/**
 * Decompresses frames from `input` until exactly `clusterSize` bytes are produced, as QEMU does
 * (several frames and skippable frames are allowed; bytes after the cluster is complete are ignored).
 */
export const zstdDecompressCluster = (input: Uint8Array, clusterSize: number): E.Either<QcowError, Uint8Array> => {
  const output = new Uint8Array(clusterSize)
  let produced = 0
  let position = 0
  while (produced < clusterSize) {
    const located = locateFrame(input, position, clusterSize - produced)
    if (E.isLeft(located)) return E.left(corrupt(`compressed cluster: ${located.left}`))
    const frame = located.right
    position = frame.end
    if (frame.kind === 'skippable') continue
    const decoded = decodeFrame(input, frame, output, produced)
    if (E.isLeft(decoded)) return E.left(corrupt(`compressed cluster: ${decoded.left}`))
    produced += decoded.right
  }
  return E.right(output)
}

/**
 * The zstd codec: compression type 1. Decompression only: no portable pure-JS zstd compressor is
 * used, so `compress` returns `UnsupportedFeature` and writers store such clusters uncompressed.
 */
export const zstdCodec: ClusterCodec = {
  name: 'zstd',
  decompress: (input, clusterSize) => TE.fromIOEither(() => zstdDecompressCluster(input, clusterSize)),
  compress: () => TE.left(unsupportedFeature('zstd compression', 'only zstd decompression is implemented')),
}
