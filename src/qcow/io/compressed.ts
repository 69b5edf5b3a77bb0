// Reading one compressed cluster: fetch its bytes from the host and decompress them with the image's codec.
import { codecFor } from '../compression/index.js'
import { compressedExtent } from '../format/entries.js'
import type { Image } from '../image.js'
import { must } from './fault.js'

/** The host clusters a compressed descriptor touches, as QEMU counts them for refcounts. */
export const compressedClusters = (img: Image, hi: number, lo: number): { firstCluster: number; count: number } => {
  const { offset, length } = compressedExtent(img.compressed, hi, lo)
  const start = offset - (offset % 512)
  const end = offset + length
  const firstCluster = Math.floor(start / img.g.clusterSize)
  return { firstCluster, count: Math.floor((end - 1) / img.g.clusterSize) - firstCluster + 1 }
}

/**
 * Decompresses the cluster an L2 entry describes; the result is exactly one cluster, shared with a
 * one-entry cache (small sequential reads of one compressed cluster decompress it once): never modify it.
 */
export const readCompressedCluster = async (img: Image, hi: number, lo: number): Promise<Uint8Array> => {
  const cached = img.lastDecompressed
  if (cached !== undefined && cached.hi === hi && cached.lo === lo) return cached.data
  const data = await decompress(img, hi, lo)
  img.lastDecompressed = { hi, lo, data }
  return data
}

const decompress = async (img: Image, hi: number, lo: number): Promise<Uint8Array> => {
  const { offset, length } = compressedExtent(img.compressed, hi, lo)
  if (offset >= img.io.sizeBytes) return img.corrupt(`compressed cluster at ${offset} lies past the end of the device`)
  const start = offset - (offset % 512)
  const raw = new Uint8Array(Math.ceil((offset + length - start) / 512) * 512)
  await img.io.read(start, raw)
  const codec = await must(codecFor(img.header.compressionType))
  return must(codec.decompress(raw.subarray(offset - start, offset - start + length), img.g.clusterSize))
}
