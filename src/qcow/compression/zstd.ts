// The zstd codec (compression type 1): decodes QEMU's zstd frames into exactly one cluster with libzstd (WebAssembly).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { ZSTDDecoder } from 'zstddec'
import { corrupt, unsupportedFeature, type QcowError } from '../errors.js'
import type { ClusterCodec } from './index.js'
import { locateFrame, type ZstdFrame } from './zstd-frame.js'

let started: Promise<ZSTDDecoder> | undefined

/** The shared decoder, instantiated once (a failed start is retried on the next call). */
const zstdDecoder = (): TE.TaskEither<QcowError, ZSTDDecoder> =>
  TE.tryCatch(
    () => {
      started ??= (async () => {
        const decoder = new ZSTDDecoder()
        await decoder.init()
        return decoder
      })().catch((cause: unknown) => {
        started = undefined
        throw cause
      })
      return started
    },
    (cause) => unsupportedFeature('zstd', `the zstd decoder failed to start (${String(cause)})`),
  )

/** Whether a frame claims to regenerate any byte (an empty result from such a frame is a decoding error). */
const claimsData = (frame: ZstdFrame): boolean =>
  frame.contentSize !== undefined ? frame.contentSize > 0 : frame.rawAndRleBytes > 0 || frame.compressedBlocks > 0

/**
 * Decodes one frame into `output` from `at`, returning the bytes written. libzstd decodes in one pass
 * into a buffer of the room left, so a frame regenerating more fails instead of allocating, and its
 * run time is linear in the frame's size.
 */
const decodeFrame = (decoder: ZSTDDecoder, input: Uint8Array, frame: ZstdFrame, output: Uint8Array, at: number): E.Either<string, number> => {
  const room = output.byteLength - at
  if (frame.contentSize !== undefined && frame.contentSize > room) {
    return E.left(`zstd frame content size ${frame.contentSize} exceeds the ${room} bytes left in the cluster`)
  }
  let decoded: Uint8Array
  try {
    decoded = decoder.decode(input.subarray(frame.start, frame.end), room)
  } catch (cause) {
    return E.left(`invalid zstd frame (${String(cause)})`)
  }
  if (decoded.byteLength === 0 && claimsData(frame)) return E.left('invalid zstd frame, or one regenerating more than the cluster')
  if (decoded.byteLength > room) return E.left('zstd frame regenerates more than the cluster')
  if (frame.contentSize !== undefined && decoded.byteLength !== frame.contentSize) {
    return E.left(`zstd frame regenerated ${decoded.byteLength} bytes, its header says ${frame.contentSize}`)
  }
  output.set(decoded, at)
  return E.right(decoded.byteLength)
}

/**
 * Decompresses frames from `input` until exactly `clusterSize` bytes are produced, as QEMU does
 * (several frames and skippable frames are allowed; bytes after the cluster is complete are ignored).
 */
export const zstdDecompressCluster = (decoder: ZSTDDecoder, input: Uint8Array, clusterSize: number): E.Either<QcowError, Uint8Array> => {
  const output = new Uint8Array(clusterSize)
  let produced = 0
  let position = 0
  while (produced < clusterSize) {
    const located = locateFrame(input, position, clusterSize - produced)
    if (E.isLeft(located)) return E.left(corrupt(`compressed cluster: ${located.left}`))
    const frame = located.right
    position = frame.end
    if (frame.kind === 'skippable') continue
    const decoded = decodeFrame(decoder, input, frame, output, produced)
    if (E.isLeft(decoded)) return E.left(corrupt(`compressed cluster: ${decoded.left}`))
    produced += decoded.right
  }
  return E.right(output)
}

/**
 * The zstd codec: compression type 1. Decompression only: there is no portable zstd compressor here,
 * so `compress` returns `UnsupportedFeature` and writers store such clusters uncompressed.
 */
export const zstdCodec: ClusterCodec = {
  name: 'zstd',
  decompress: (input, clusterSize) =>
    pipe(
      zstdDecoder(),
      TE.chainEitherK((decoder) => zstdDecompressCluster(decoder, input, clusterSize)),
    ),
  compress: () => TE.left(unsupportedFeature('zstd compression', 'only zstd decompression is implemented')),
}
