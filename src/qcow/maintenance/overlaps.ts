// Metadata overlap detection: QEMU's pre-write overlap check for data writes and allocations, and Debug.checkNoOverlaps.
import { COMPRESSED_HI, entryOffset, l2Kind } from '../format/entries.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { readBytes } from '../io/metadata-read.js'
import { l1EntryTarget } from '../map/l1-table.js'
import { activeMetadata, metadataOf, type Owners } from './metadata-index.js'

/**
 * Refuses, as corruption, freshly allocated clusters `[first, first + count)` that hold metadata:
 * their refcounts were wrong, and writing them would destroy the metadata.
 */
export const checkAllocation = (img: Image, first: number, count: number): Promise<void> | undefined => {
  const owners = metadataOf(img)
  return owners instanceof Promise ? owners.then((current) => allocationClash(img, current, first, count)) : allocationClash(img, owners, first, count)
}

/** Fails as corruption when clusters `[first, first + count)` hold metadata. */
const allocationClash = (img: Image, owners: Owners, first: number, count: number): Promise<never> | undefined => {
  for (let c = first; c < first + count; c++) {
    const what = owners.get(c)
    if (what !== undefined) return img.corrupt(`host cluster ${c} was allocated but holds the ${what[0]}: its refcount is wrong (metadata overlap)`)
  }
  return undefined
}

/**
 * QEMU's pre-write overlap check for guest data: refuses (as corruption, which marks a writable
 * image corrupt) a write of host bytes `[offset, offset + length)` that would land on metadata.
 */
export const checkDataWrite = (img: Image, offset: number, length: number): Promise<void> | undefined => {
  const owners = metadataOf(img)
  return owners instanceof Promise ? owners.then((current) => dataWriteClash(img, current, offset, length)) : dataWriteClash(img, owners, offset, length)
}

/** Fails as corruption when host bytes `[offset, offset + length)` hold metadata. */
const dataWriteClash = (img: Image, owners: Owners, offset: number, length: number): Promise<never> | undefined => {
  const cs = img.g.clusterSize
  const last = Math.floor((offset + length - 1) / cs)
  for (let c = Math.floor(offset / cs); c <= last; c++) {
    const what = owners.get(c)
    if (what !== undefined) return img.corrupt(`a data write to host offset ${c * cs} would overwrite the ${what[0]} (metadata overlap)`)
  }
  return undefined
}

/** Every overlap between metadata structures and the data clusters of the active L1 table. */
export const findOverlaps = async (img: Image): Promise<string[]> => {
  const cs = img.g.clusterSize
  const { index, clashes } = await activeMetadata(img)
  const owners = index.owners
  const data = new Map<number, string>()
  for (let i = 0; i < img.l1.size; i++) {
    const target = l1EntryTarget(img.l1.hi(i), img.l1.lo(i), cs, img.io.sizeBytes)
    if (typeof target === 'string' || target === 0) continue
    const cachedTable = img.l2Cache.peek(target)
    const l2 = cachedTable?.bytes ?? (await readBytes(img.io, target, cs))
    const view = new DataView(l2.buffer, l2.byteOffset, l2.byteLength)
    for (let j = 0; j < img.g.l2Entries; j++) {
      const hi = view.getUint32(j * 8)
      const lo = view.getUint32(j * 8 + 4)
      const guest = (i * img.g.l2Entries + j) * cs
      let first: number
      let count: number
      if ((hi & COMPRESSED_HI) !== 0) ({ firstCluster: first, count } = compressedClusters(img, hi, lo))
      else {
        const kind = l2Kind(hi, lo)
        if (kind !== 'normal' && kind !== 'zeroAllocated') continue
        first = Math.floor(entryOffset(hi, lo) / cs)
        count = 1
      }
      for (let c = first; c < first + count; c++) {
        const what = owners.get(c)
        if (what !== undefined) clashes.push(`host cluster ${c} holds both the ${what[0]} and the data of guest offset ${guest}`)
        const other = data.get(c)
        if (other !== undefined && (hi & COMPRESSED_HI) === 0) clashes.push(`host cluster ${c} holds the data of guest offsets ${other} and ${guest}`)
        else data.set(c, String(guest))
      }
    }
  }
  return clashes
}
