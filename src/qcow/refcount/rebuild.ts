// Rebuilding the refcount structures from every reference in the image (dirty images; reused by repair).
import { COMPRESSED_HI, entryOffset, l2Kind, setReftableEntry } from '../format/entries.js'
import { setRefcount } from '../format/refcount-block.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { l1EntryTarget } from '../map/l1-table.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { readBytes, readSnapshots } from '../io/metadata-read.js'

/** Clusters per chunk of the sparse reference counts. */
const CHUNK = 65536

/** Reference counts per host cluster, computed by walking the image; memory grows with the clusters referenced. */
class Counts {
  private readonly chunks = new Map<number, Uint32Array>()
  /** One past the highest referenced cluster. */
  end = 0
  /** Adds one reference to clusters `[first, first + count)`. */
  add(first: number, count: number): void {
    for (let c = first; c < first + count; c++) {
      const key = Math.floor(c / CHUNK)
      let chunk = this.chunks.get(key)
      if (chunk === undefined) {
        chunk = new Uint32Array(CHUNK)
        this.chunks.set(key, chunk)
      }
      chunk[c - key * CHUNK]++
    }
    this.end = Math.max(this.end, first + count)
  }
  /** The references counted for `cluster`. */
  get(cluster: number): number {
    const key = Math.floor(cluster / CHUNK)
    return this.chunks.get(key)?.[cluster - key * CHUNK] ?? 0
  }
}

const clustersOf = (offset: number, bytes: number, clusterSize: number): [number, number] => {
  const first = Math.floor(offset / clusterSize)
  return [first, Math.max(1, Math.ceil((offset + bytes) / clusterSize) - first)]
}

/** Counts one L1 table, its L2 tables and their clusters. */
const countL1 = async (img: Image, counts: Counts, l1: Uint8Array): Promise<void> => {
  const cs = img.g.clusterSize
  const view = new DataView(l1.buffer, l1.byteOffset, l1.byteLength)
  const l2 = new Uint8Array(cs)
  const l2View = new DataView(l2.buffer)
  for (let i = 0; i < l1.byteLength / 8; i++) {
    const target = l1EntryTarget(view.getUint32(i * 8), view.getUint32(i * 8 + 4), cs, img.io.sizeBytes)
    if (typeof target === 'string') return img.corrupt(target)
    if (target === 0) continue
    counts.add(target / cs, 1)
    await img.io.read(target, l2)
    for (let j = 0; j < img.g.l2Entries; j++) {
      const hi = l2View.getUint32(j * 8)
      const lo = l2View.getUint32(j * 8 + 4)
      if ((hi | lo) === 0) continue
      if ((hi & COMPRESSED_HI) !== 0) {
        const { firstCluster, count } = compressedClusters(img, hi, lo)
        // Like check(): a compressed extent reaching a cluster or more past the device end is a
        // corruption left to reads to report, not a reference (counting it would place the new
        // refcount structures up to 2^56 bytes out).
        if ((firstCluster + count) * cs - img.io.sizeBytes < cs) counts.add(firstCluster, count)
        continue
      }
      const problem = l2EntryProblem(img, hi, lo)
      if (problem !== undefined) return img.corrupt(problem)
      const kind = l2Kind(hi, lo)
      if (kind === 'normal' || kind === 'zeroAllocated') counts.add(entryOffset(hi, lo) / cs, 1)
    }
  }
}

/**
 * Walks every reference (header, L1 tables, L2 tables, data and compressed clusters, snapshot table)
 * and writes a fresh, self-describing refcount table and blocks past everything in use, then switches
 * the header to them. The old structures become free. Runs under the allocation lock; callers flush
 * cached metadata first.
 */
export const rebuildRefcountTable = async (img: Image): Promise<void> =>
  img.allocLock.run(async () => {
    const g = img.g
    const cs = g.clusterSize
    const h = img.header
    const counts = new Counts()
    counts.add(0, 1)
    if (h.l1Size > 0) counts.add(...clustersOf(h.l1TableOffset, h.l1Size * 8, cs))
    await countL1(img, counts, img.l1.bytes)
    const snapshots = await readSnapshots(img.io, h)
    if (h.nbSnapshots > 0) counts.add(...clustersOf(h.snapshotsOffset, snapshots.tableBytes, cs))
    for (const s of snapshots.snapshots) {
      if (s.l1Size === 0) continue
      counts.add(...clustersOf(s.l1TableOffset, s.l1Size * 8, cs))
      await countL1(img, counts, await readBytes(img.io, s.l1TableOffset, s.l1Size * 8))
    }
    // The new structures go past everything referenced and past the old refcount structures.
    let start = Math.max(counts.end, img.refcounts.tableOffset / cs + img.refcounts.tableClusters)
    for (let b = 0; b < img.refcounts.tableEntries; b++) {
      const offset = await img.refcounts.blockOffset(b)
      if (offset !== 0) start = Math.max(start, offset / cs + 1)
    }
    let blocks = 1
    let tableClusters = 1
    for (;;) {
      const total = start + blocks + tableClusters
      const neededBlocks = Math.ceil(total / g.refcountsPerBlock)
      const neededTable = Math.ceil(neededBlocks / g.reftableEntriesPerCluster)
      if (neededBlocks <= blocks && neededTable <= tableClusters) break
      blocks = Math.max(blocks, neededBlocks)
      tableClusters = Math.max(tableClusters, neededTable)
    }
    counts.add(start, blocks + tableClusters)
    const tableOffset = (start + blocks) * cs
    const table = new Uint8Array(tableClusters * cs)
    const tableView = new DataView(table.buffer)
    for (let b = 0; b < blocks; b++) {
      const block = new Uint8Array(cs)
      const view = new DataView(block.buffer)
      const first = b * g.refcountsPerBlock
      const limit = Math.min(counts.end, first + g.refcountsPerBlock)
      for (let c = first; c < limit; c++) {
        const value = counts.get(c)
        if (value === 0) continue
        if (value > g.maxRefcount) return img.corrupt(`cluster ${c} has ${value} references, more than ${g.refcountBits}-bit refcounts hold`)
        setRefcount(block, view, g.refcountOrder, c - first, value)
      }
      const offset = (start + b) * cs
      await img.io.write(offset, block)
      setReftableEntry(tableView, b, offset)
    }
    await img.io.write(tableOffset, table)
    await img.io.flush()
    await img.updateHeader({ ...img.header, refcountTableOffset: tableOffset, refcountTableClusters: tableClusters })
    img.refcounts.replaceTable(tableOffset, tableClusters, table)
    img.zeroFrom = Math.max(img.zeroFrom, (start + blocks + tableClusters) * cs)
  })
