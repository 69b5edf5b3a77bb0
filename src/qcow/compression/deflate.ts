// The deflate codec (compression type 0): raw RFC 1951 streams with a 4 KiB window, as QEMU writes them.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { deflateRaw, Z_BUF_ERROR, Z_FINISH, Z_STREAM_END, zlibInflate, zlibInflateEnd, zlibInflateInit2, ZStream } from 'pako'
import { corrupt, type QcowError } from '../errors.js'
import type { ClusterCodec } from './index.js'

/** QEMU's deflate window: `-12` window bits, i.e. raw deflate with a 4 KiB window. */
export const DEFLATE_WINDOW_BITS = 12

/**
 * Inflates `input` into exactly `clusterSize` bytes, as QEMU does: the output buffer holds one cluster
 * plus one byte, so a stream producing more than a cluster fails instead of allocating; decoding stops
 * at the end of the stream, so trailing bytes are ignored. Memory is bounded by the cluster size plus
 * the 4 KiB window, whatever `input` claims.
 */
export const inflateCluster = (input: Uint8Array, clusterSize: number): E.Either<QcowError, Uint8Array> => {
  const output = new Uint8Array(clusterSize + 1)
  const strm = new ZStream()
  try {
    if (zlibInflateInit2(strm, -DEFLATE_WINDOW_BITS) !== 0) return E.left(corrupt('deflate decoder failed to start'))
    strm.input = input
    strm.next_in = 0
    strm.avail_in = input.byteLength
    strm.output = output
    strm.next_out = 0
    strm.avail_out = output.byteLength
    const status = zlibInflate(strm, Z_FINISH)
    const produced = strm.next_out
    zlibInflateEnd(strm)
    if (status !== Z_STREAM_END && status !== Z_BUF_ERROR) {
      return E.left(corrupt(`compressed cluster is not a valid deflate stream${strm.msg ? ` (${strm.msg})` : ''}`))
    }
    if (produced !== clusterSize) {
      return E.left(corrupt(`compressed cluster inflates to ${produced > clusterSize ? 'more than' : produced} bytes, not ${clusterSize}`))
    }
    return E.right(output.subarray(0, clusterSize))
  } catch (cause) {
    return E.left(corrupt(`compressed cluster is not a valid deflate stream (${String(cause)})`))
  }
}

/** Deflates one cluster as QEMU does: raw deflate, default level, 4 KiB window, memory level 9. */
export const deflateCluster = (input: Uint8Array): E.Either<QcowError, Uint8Array> => {
  try {
    return E.right(deflateRaw(input, { windowBits: DEFLATE_WINDOW_BITS, memLevel: 9, level: -1 }))
  } catch (cause) {
    return E.left(corrupt(`deflate failed (${String(cause)})`))
  }
}

/** The deflate codec: compression type 0. */
export const deflateCodec: ClusterCodec = {
  name: 'deflate',
  decompress: (input, clusterSize) => TE.fromIOEither(() => inflateCluster(input, clusterSize)),
  compress: (input) => TE.fromIOEither(() => deflateCluster(input)),
}
