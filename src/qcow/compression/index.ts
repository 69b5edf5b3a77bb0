// Compressed-cluster codecs behind one small interface (deflate = type 0, zstd = type 1).
import * as TE from 'fp-ts/lib/TaskEither.js'
import { unsupportedFeature, type QcowError } from '../errors.js'
import { deflateCodec } from './deflate.js'
import { zstdCodec } from './zstd.js'

/** A codec for compressed clusters. */
export interface ClusterCodec {
  /** 'deflate' or 'zstd'. */
  readonly name: string
  /**
   * Decompresses one cluster. `input` may hold trailing bytes after the compressed stream; the result
   * is exactly `clusterSize` bytes or a `Corrupt` error.
   */
  decompress(input: Uint8Array, clusterSize: number): TE.TaskEither<QcowError, Uint8Array>
  /** Compresses one cluster; the caller stores it compressed only when the result is smaller. */
  compress(input: Uint8Array): TE.TaskEither<QcowError, Uint8Array>
}

/** The codec for a header `compression_type` value: 0 deflate, 1 zstd; others are unsupported. */
export const codecFor = (compressionType: number): TE.TaskEither<QcowError, ClusterCodec> => {
  switch (compressionType) {
    case 0:
      return TE.right(deflateCodec)
    case 1:
      return TE.right(zstdCodec)
    default:
      return TE.left(unsupportedFeature(`compression type ${compressionType}`, 'only deflate (0) and zstd (1) are defined'))
  }
}
