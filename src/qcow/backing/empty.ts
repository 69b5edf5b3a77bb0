// Emptying an image: every L2 entry made unallocated (reads then fall through to the backing) and the clusters queued for freeing.
import { COMPRESSED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { l2ForWrite } from '../map/l2-tables.js'

/**
 * Makes every guest cluster unallocated and queues its host clusters for freeing; the next flush
 * removes the references on disk before the refcounts drop. L2 tables stay allocated, empty. The
 * caller holds the range lock over the whole disk.
 */
export const clearAllEntries = async (img: Image): Promise<void> => {
  const { clusterSize, l2Entries } = img.g
  for (let index = 0; index < img.l1.size; index++) {
    if (img.l1.hi(index) === 0 && img.l1.lo(index) === 0) continue
    const table = await l2ForWrite(img, index)
    try {
      let changed = false
      for (let slot = 0; slot < l2Entries; slot++) {
        const hi = table.view.getUint32(slot * 8)
        const lo = table.view.getUint32(slot * 8 + 4)
        if ((hi | lo) === 0) continue
        if ((hi & COMPRESSED_HI) !== 0) img.pendingFrees.push(compressedClusters(img, hi, lo))
        else if ((hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0) img.pendingFrees.push({ firstCluster: entryOffset(hi, lo) / clusterSize, count: 1 })
        table.view.setUint32(slot * 8, 0)
        table.view.setUint32(slot * 8 + 4, 0)
        changed = true
      }
      if (changed) img.l2Cache.markDirty(table)
    } finally {
      img.l2Cache.release(table)
    }
  }
}
