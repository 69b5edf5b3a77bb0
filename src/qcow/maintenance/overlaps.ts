// Metadata overlap detection: QEMU's pre-write overlap check for data writes and allocations, and Debug.checkNoOverlaps.
import { COMPRESSED_HI, entryOffset, l2Kind } from '../format/entries.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { readBytes, readSnapshots } from '../io/metadata-read.js'
import { l1EntryTarget } from '../map/l1-table.js'

/** Host clusters holding metadata, each with the name of its structure. */
type MetadataMap = Map<number, string>

const addRange = (map: MetadataMap, cs: number, offset: number, bytes: number, what: string): string[] => {
  const clashes: string[] = []
  if (bytes <= 0) return clashes
  const last = Math.floor((offset + bytes - 1) / cs)
  for (let c = Math.floor(offset / cs); c <= last; c++) {
    const other = map.get(c)
    if (other !== undefined) clashes.push(`host cluster ${c} holds both the ${other} and the ${what}`)
    else map.set(c, what)
  }
  return clashes
}

/**
 * The clusters of the active metadata (header, L1 table, refcount table and blocks, active L2 tables,
 * snapshot table and snapshot L1 tables) and the overlaps found among them. Invalid table entries
 * abort as Corrupt.
 */
const activeMetadata = async (img: Image): Promise<{ map: MetadataMap; clashes: string[] }> => {
  const cs = img.g.clusterSize
  const h = img.header
  const map: MetadataMap = new Map()
  const clashes = [...addRange(map, cs, 0, cs, 'header')]
  clashes.push(...addRange(map, cs, img.l1.offset, img.l1.size * 8, 'active L1 table'))
  const rc = img.refcounts
  clashes.push(...addRange(map, cs, rc.tableOffset, rc.tableClusters * cs, 'refcount table'))
  for (let i = 0; i < rc.tableEntries; i++) {
    const offset = await rc.blockOffset(i)
    if (offset !== 0) clashes.push(...addRange(map, cs, offset, cs, `refcount block ${i}`))
  }
  for (let i = 0; i < img.l1.size; i++) {
    const target = l1EntryTarget(img.l1.hi(i), img.l1.lo(i), cs, img.io.sizeBytes)
    if (typeof target === 'string') return img.corrupt(target)
    if (target !== 0) clashes.push(...addRange(map, cs, target, cs, `L2 table of L1 entry ${i}`))
  }
  if (h.nbSnapshots > 0) {
    const snapshots = await readSnapshots(img.io, h)
    clashes.push(...addRange(map, cs, h.snapshotsOffset, snapshots.tableBytes, 'snapshot table'))
    snapshots.snapshots.forEach((s, i) => clashes.push(...addRange(map, cs, s.l1TableOffset, s.l1Size * 8, `L1 table of snapshot ${i}`)))
  }
  return { map, clashes }
}

interface CachedMetadata {
  readonly key: string
  readonly map: MetadataMap
}

const cached = new WeakMap<Image, CachedMetadata>()

/** Changes whenever a metadata structure moves, appears or goes away. */
const placementKey = (img: Image): string =>
  `${img.l1.offset}:${img.l1.size}:${img.l1.version}:${img.refcounts.tableOffset}:${img.refcounts.version}:${img.header.snapshotsOffset}:${img.header.nbSnapshots}`

/** The metadata clusters, recomputed only after metadata moved since the last call. */
const metadataOf = async (img: Image): Promise<MetadataMap> => {
  const key = placementKey(img)
  const hit = cached.get(img)
  if (hit !== undefined && hit.key === key) return hit.map
  const { map } = await activeMetadata(img)
  cached.set(img, { key, map })
  return map
}

/**
 * Refuses, as corruption, freshly allocated clusters `[first, first + count)` that hold metadata:
 * their refcounts were wrong, and writing them would destroy the metadata.
 */
export const checkAllocation = async (img: Image, first: number, count: number): Promise<void> => {
  const map = await metadataOf(img)
  for (let c = first; c < first + count; c++) {
    const what = map.get(c)
    if (what !== undefined) return img.corrupt(`host cluster ${c} was allocated but holds the ${what}: its refcount is wrong (metadata overlap)`)
  }
}

/**
 * QEMU's pre-write overlap check for guest data: refuses (as corruption, which marks a writable
 * image corrupt) a write of host bytes `[offset, offset + length)` that would land on metadata.
 */
export const checkDataWrite = async (img: Image, offset: number, length: number): Promise<void> => {
  const map = await metadataOf(img)
  const cs = img.g.clusterSize
  const last = Math.floor((offset + length - 1) / cs)
  for (let c = Math.floor(offset / cs); c <= last; c++) {
    const what = map.get(c)
    if (what !== undefined) return img.corrupt(`a data write to host offset ${c * cs} would overwrite the ${what} (metadata overlap)`)
  }
}

/** Every overlap between metadata structures and the data clusters of the active L1 table. */
export const findOverlaps = async (img: Image): Promise<string[]> => {
  const cs = img.g.clusterSize
  const { map, clashes } = await activeMetadata(img)
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
        const what = map.get(c)
        if (what !== undefined) clashes.push(`host cluster ${c} holds both the ${what} and the data of guest offset ${guest}`)
        const other = data.get(c)
        if (other !== undefined && (hi & COMPRESSED_HI) === 0) clashes.push(`host cluster ${c} holds the data of guest offsets ${other} and ${guest}`)
        else data.set(c, String(guest))
      }
    }
  }
  return clashes
}
