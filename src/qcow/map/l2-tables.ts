// Finding the L2 table for a guest range: for reads (may be absent) and for writes (allocated or copied on demand, COPIED).
import { writeSnapshot, type CachedTable } from '../cache/table-cache.js'
import { COPIED_HI } from '../format/entries.js'
import type { Image } from '../image.js'
import { l1EntryTarget } from './l1-table.js'

/** The L2 table offset of L1 entry `index` (0 when unallocated); a bad entry aborts as Corrupt (a rejected promise). */
const l2Offset = (img: Image, index: number): number | Promise<never> => {
  if (index >= img.l1.size) return img.corrupt(`guest offset needs L1 entry ${index} but the L1 table has ${img.l1.size}`)
  const target = l1EntryTarget(img.l1.hi(index), img.l1.lo(index), img.g.clusterSize, img.io.sizeBytes)
  return typeof target === 'string' ? img.corrupt(target) : target
}

/**
 * The L2 table for L1 entry `index`, pinned, or undefined when the whole range is unallocated.
 * Returns the table itself (no promise) when it is cached: reads are the hot path.
 */
export const l2ForRead = (img: Image, index: number): CachedTable | undefined | Promise<CachedTable | undefined> => {
  const offset = l2Offset(img, index)
  if (typeof offset !== 'number') return offset
  return offset === 0 ? undefined : img.l2Cache.acquire(offset)
}

/**
 * The L2 table for L1 entry `index`, pinned and safe to modify in place: allocated when missing,
 * copied when its L1 entry lacks COPIED (it is shared with a snapshot). The new table is written and
 * flushed after its refcount and before the L1 entry that points at it; the old one is freed later.
 */
export const l2ForWrite = (img: Image, index: number): CachedTable | Promise<CachedTable> => {
  if (index < img.l1.size && (img.l1.hi(index) & COPIED_HI) !== 0) {
    const offset = l2Offset(img, index)
    if (typeof offset !== 'number') return offset
    if (offset !== 0) return img.l2Cache.acquire(offset)
  }
  return writableL2(img, index)
}

/** The slow part of `l2ForWrite`: allocating or copying the table, under the L2 lock. */
const writableL2 = (img: Image, index: number): Promise<CachedTable> =>
  img.l2Lock.run(async () => {
    const old = await l2Offset(img, index)
    if (old !== 0 && (img.l1.hi(index) & COPIED_HI) !== 0) return img.l2Cache.acquire(old)
    let content: Uint8Array | undefined
    if (old !== 0) {
      const source = await img.l2Cache.acquire(old)
      content = source.bytes.slice()
      img.l2Cache.release(source)
    }
    const { first: cluster } = await img.allocate(1)
    const offset = cluster * img.g.clusterSize
    const table = await img.l2Cache.create(offset, content)
    const oldHi = img.l1.hi(index)
    const oldLo = img.l1.lo(index)
    try {
      await img.writebackLock.run(async () => {
        const restoreBlocks = img.lazy ? () => undefined : await img.refcounts.writeDirtyBlocks()
        try {
          await writeSnapshot(table, (bytes) => img.io.write(offset, bytes))
          await img.io.flush()
        } catch (e) {
          restoreBlocks()
          throw e
        }
      })
      img.l1.set(index, offset)
      await img.l1.writeEntry(img.io, index)
    } catch (e) {
      // The new table never became reachable on disk: memory goes back to the old entry (the cluster leaks).
      img.l1.restore(index, oldHi, oldLo)
      img.l2Cache.release(table)
      img.l2Cache.drop(offset)
      throw e
    }
    if (old !== 0) img.pendingFrees.push({ firstCluster: old / img.g.clusterSize, count: 1 })
    return table
  })
