// The read path: guest range -> L2 lookups -> one base request per host-contiguous run, zeroes, or decompression.
import { sliceBuffers, zeroFill, scatter } from '../../block/buffers.js'
import { COMPRESSED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForRead } from '../map/l2-tables.js'
import { readCompressedCluster } from './compressed.js'
import { readUnallocated } from './unallocated.js'

/** Bytes `[at, at + length)` of a buffer list as views; the one-buffer case (the common one) allocates one view. */
export const region = (buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Uint8Array[] =>
  buffers.length === 1 ? [buffers[0].subarray(at, at + length)] : sliceBuffers(buffers, at, length)

/** Reads host bytes `[host, host + length)` into bytes `[at, at + length)` of `buffers`; past the device end reads zeroes. */
const readHost = async (img: Image, host: number, buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Promise<void> => {
  const inside = Math.max(0, Math.min(length, img.io.sizeBytes - host))
  if (inside < length) zeroFill(buffers, at + inside, length - inside)
  if (inside > 0) await img.io.readv(host, region(buffers, at, inside))
}

/** Reads guest bytes `[offset, offset + length)` into `buffers` (offset and length are multiples of 512). */
export const readGuest = async (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  const pending: Promise<void>[] = []
  try {
    await planReads(img, offset, buffers, length, pending)
  } catch (e) {
    // Let the reads already started end before failing, so none writes into the buffers afterwards.
    await Promise.allSettled(pending)
    throw e
  }
  if (pending.length === 1) await pending[0]
  else if (pending.length > 1) await Promise.all(pending)
}

/**
 * Walks the L2 tables of the range and starts its reads, adding each to `pending`. Each is marked
 * handled at once: one may fail while the walk still waits for a table, before anyone awaits it.
 */
const planReads = async (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number, started: Promise<void>[]): Promise<void> => {
  const { clusterSize, l2Coverage, l2Entries } = img.g
  const pending = {
    push: (read: Promise<void>): void => {
      read.catch(() => undefined)
      started.push(read)
    },
  }
  let pos = 0
  while (pos < length) {
    const guest = offset + pos
    const l1Index = Math.floor(guest / l2Coverage)
    const chunkEnd = Math.min(length, (l1Index + 1) * l2Coverage - offset)
    const found = l2ForRead(img, l1Index)
    const table = found instanceof Promise ? await found : found
    if (table === undefined) {
      pending.push(readUnallocated(img.lower, guest, buffers, pos, chunkEnd - pos))
      pos = chunkEnd
      continue
    }
    try {
      const view = table.view
      let slot = Math.floor(guest / clusterSize) % l2Entries
      // A run of clusters with the same treatment: data runs are contiguous on the host.
      let runKind = -1
      let runHost = 0
      let runAt = pos
      let runLength = 0
      const flush = (): void => {
        if (runLength === 0) return
        if (runKind === 1) pending.push(readHost(img, runHost, buffers, runAt, runLength))
        else if (runKind === 2) zeroFill(buffers, runAt, runLength)
        else pending.push(readUnallocated(img.lower, offset + runAt, buffers, runAt, runLength))
        runLength = 0
      }
      while (pos < chunkEnd) {
        const within = (offset + pos) % clusterSize
        const n = Math.min(clusterSize - within, chunkEnd - pos)
        const hi = view.getUint32(slot * 8)
        const lo = view.getUint32(slot * 8 + 4)
        if ((hi & COMPRESSED_HI) !== 0) {
          flush()
          runKind = -1
          const at = pos
          pending.push(readCompressedCluster(img, hi, lo).then((cluster) => scatter(cluster.subarray(within, within + n), buffers, at)))
        } else {
          if ((hi | lo) !== 0) {
            const problem = l2EntryProblem(img, hi, lo)
            if (problem !== undefined) {
              return img.corrupt(problem)
            }
          }
          const kind = (lo & ZERO_LO) !== 0 ? 2 : (hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0 ? 1 : 0
          const host = kind === 1 ? entryOffset(hi, lo) + within : 0
          if (kind !== runKind || (kind === 1 && runHost + runLength !== host)) {
            flush()
            runKind = kind
            runHost = host
            runAt = pos
          }
          runLength += n
        }
        pos += n
        slot++
      }
      flush()
    } finally {
      img.l2Cache.release(table)
    }
  }
}
