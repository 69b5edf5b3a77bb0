// Discard and write-zeroes: whole clusters change their L2 entries (freed after the reference is gone), partial ones get zero data.
import { COMPRESSED_HI, COPIED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset, l2Kind } from '../format/entries.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { writeGuest } from '../io/write.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForRead, l2ForWrite } from '../map/l2-tables.js'

/** What becomes of whole clusters. */
export type ClusterFate =
  /** Unallocated: reads from the layer below (zeroes without a backing file). */
  | 'deallocate'
  /** A ZERO cluster without a host cluster. */
  | 'zero'
  /** A ZERO cluster keeping its host cluster when it owns it (COPIED). */
  | 'zeroKeep'

/** Zero data written per request when a range must be filled. */
const ZERO_CHUNK = 1024 * 1024

/** True when the image has a lower layer (backing file) whose data could show through. */
const hasBacking = (img: Image): boolean => !img.lower.allZero || img.header.backingFile !== undefined

/** Writes zero data over guest bytes `[offset, offset + length)` (multiples of 512) with `write` (default: taking the range lock). */
export const writeZeroData = async (img: Image, offset: number, length: number, write = writeGuest): Promise<void> => {
  const zeroes = new Uint8Array(Math.min(ZERO_CHUNK, length))
  for (let pos = 0; pos < length; pos += zeroes.byteLength) {
    const n = Math.min(zeroes.byteLength, length - pos)
    await write(img, offset + pos, [n === zeroes.byteLength ? zeroes : zeroes.subarray(0, n)], n)
  }
}

/** True when guest cluster `cluster` already reads as zeroes (ZERO cluster, or unallocated over zeroes). */
const readsAsZero = async (img: Image, cluster: number): Promise<boolean> => {
  const { l2Entries } = img.g
  const table = await l2ForRead(img, Math.floor(cluster / l2Entries))
  if (table === undefined) return img.lower.allZero
  try {
    const slot = cluster % l2Entries
    const hi = table.view.getUint32(slot * 8)
    const lo = table.view.getUint32(slot * 8 + 4)
    if ((hi & COMPRESSED_HI) !== 0) return false
    if ((lo & ZERO_LO) !== 0) return img.header.version === 3
    return (hi | lo) === 0 && img.lower.allZero
  } finally {
    img.l2Cache.release(table)
  }
}

/** Zeroes guest bytes `[offset, offset + length)` with zero data, skipping each cluster that already reads as zeroes. */
export const zeroPartial = async (img: Image, offset: number, length: number): Promise<void> => {
  const cs = img.g.clusterSize
  const end = offset + length
  for (let at = offset; at < end; ) {
    const stop = Math.min(end, (Math.floor(at / cs) + 1) * cs)
    if (!(await readsAsZero(img, Math.floor(at / cs)))) await writeZeroData(img, at, stop - at)
    at = stop
  }
}

/** The new L2 entry for a cluster and whether its old host cluster must be released. */
const nextEntry = (hi: number, lo: number, fate: ClusterFate): { hi: number; lo: number; release: boolean } => {
  const kind = l2Kind(hi, lo)
  if (fate === 'deallocate') return { hi: 0, lo: 0, release: kind !== 'unallocated' && kind !== 'zero' }
  if (fate === 'zeroKeep' && (kind === 'normal' || kind === 'zeroAllocated') && (hi & COPIED_HI) !== 0) {
    return { hi, lo: (lo | ZERO_LO) >>> 0, release: false }
  }
  return { hi: 0, lo: ZERO_LO, release: kind !== 'unallocated' && kind !== 'zero' }
}

/** Queues the refcount decrease of the host cluster(s) an entry referenced. */
const release = (img: Image, hi: number, lo: number): void => {
  if ((hi & COMPRESSED_HI) !== 0) img.pendingFrees.push(compressedClusters(img, hi, lo))
  else if ((hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0) img.pendingFrees.push({ firstCluster: entryOffset(hi, lo) / img.g.clusterSize, count: 1 })
}

/**
 * Applies `fate` to guest clusters `[first, end)`. The L2 tables change in the cache; the old host
 * clusters are released by the next flush, after the tables are on disk (reference before refcount).
 * Deallocation skips L2 tables that are not allocated. The caller holds the range lock.
 */
export const setClusters = async (img: Image, first: number, end: number, fate: ClusterFate): Promise<void> => {
  const { l2Entries } = img.g
  for (let cluster = first; cluster < end; ) {
    const l1Index = Math.floor(cluster / l2Entries)
    const stop = Math.min(end, (l1Index + 1) * l2Entries)
    if (fate === 'deallocate' && !(await hasL2Table(img, l1Index))) {
      cluster = stop
      continue
    }
    const table = await l2ForWrite(img, l1Index)
    try {
      let changed = false
      for (; cluster < stop; cluster++) {
        const slot = cluster % l2Entries
        const hi = table.view.getUint32(slot * 8)
        const lo = table.view.getUint32(slot * 8 + 4)
        if ((hi | lo) !== 0) {
          const problem = l2EntryProblem(img, hi, lo)
          if (problem !== undefined) return img.corrupt(problem)
        }
        const next = nextEntry(hi, lo, fate)
        if (next.hi === hi && next.lo === lo) continue
        table.view.setUint32(slot * 8, next.hi >>> 0)
        table.view.setUint32(slot * 8 + 4, next.lo >>> 0)
        if (next.release) release(img, hi, lo)
        changed = true
      }
      if (changed) img.l2Cache.markDirty(table)
    } finally {
      img.l2Cache.release(table)
    }
  }
}

/** True when L1 entry `l1Index` points at an L2 table. */
const hasL2Table = async (img: Image, l1Index: number): Promise<boolean> => {
  const table = await l2ForRead(img, l1Index)
  if (table === undefined) return false
  img.l2Cache.release(table)
  return true
}

/** How a zeroing request treats whole clusters. */
export type ZeroMode = 'discard' | 'zero' | 'zeroUnmap'

/** The fate of whole clusters for `mode` on this image, or undefined when zero data must be written. */
const fateOf = (img: Image, mode: ZeroMode): ClusterFate | undefined => {
  const v3 = img.header.version === 3
  if (mode === 'discard') return !hasBacking(img) ? 'deallocate' : v3 ? 'zero' : undefined
  if (!v3) return undefined
  return mode === 'zero' ? 'zeroKeep' : 'zero'
}

/**
 * Makes guest bytes `[offset, offset + length)` (multiples of 512, inside the disk) read as zeroes.
 * A cluster cut by the end of the virtual disk counts as whole.
 */
export const zeroRange = async (img: Image, offset: number, length: number, mode: ZeroMode): Promise<void> => {
  if (length === 0) return
  const cs = img.g.clusterSize
  const end = offset + length
  const fate = fateOf(img, mode)
  if (fate === undefined) return writeZeroData(img, offset, length)
  const firstWhole = Math.ceil(offset / cs)
  const endWhole = end === img.header.size ? Math.ceil(end / cs) : Math.floor(end / cs)
  if (firstWhole >= endWhole) {
    await zeroPartial(img, offset, length)
    return
  }
  await zeroPartial(img, offset, firstWhole * cs - offset)
  const unlock = await img.ranges.acquire(firstWhole, endWhole)
  try {
    await setClusters(img, firstWhole, endWhole, fate)
  } finally {
    unlock()
  }
  const tail = endWhole * cs
  if (tail < end) await zeroPartial(img, tail, end - tail)
}
