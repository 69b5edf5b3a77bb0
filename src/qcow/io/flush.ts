// Flush: metadata write-back in dependency order, then deferred refcount decreases, then the lazy-refcount dirty bit.
import { markDirty, snapshotForWrite, writeEnded } from '../cache/table-cache.js'
import { INCOMPAT_DIRTY } from '../format/constants.js'
import { withIncompatibleBit } from '../format/header.js'
import type { Image, PendingFree } from '../image.js'

/**
 * Makes every write acknowledged before the call durable. Order: dirty refcount blocks, barrier
 * (covering data too), dirty L2 tables, barrier. Refcount decreases queued before the L2 tables were
 * captured are applied only after that (reference removed before refcount decrease), once no read
 * that may still use the freed clusters is in flight, and written with one more barrier.
 */
export const flushImage = async (img: Image): Promise<void> => {
  let frees: PendingFree[] = []
  await img.writebackLock.run(async () => {
    const tables = img.l2Cache.dirtyTables().map((t) => ({ table: t, bytes: snapshotForWrite(t) }))
    const queued = img.pendingFrees.length
    let restoreBlocks = (): void => undefined
    try {
      restoreBlocks = await img.refcounts.writeDirtyBlocks()
      await img.io.flush()
      for (const t of tables) await img.io.write(t.table.offset, t.bytes)
      if (tables.length > 0) await img.io.flush()
    } catch (e) {
      // Nothing captured may count as written: the next flush writes it all again.
      markDirty(tables.map((t) => t.table))
      restoreBlocks()
      throw e
    } finally {
      for (const t of tables) writeEnded(t.table)
    }
    frees = img.pendingFrees.splice(0, queued)
  })
  if (frees.length > 0) {
    await img.reads.quiesce()
    await img.withRefcounts(async () => {
      for (const f of frees) await img.refcounts.update(f.firstCluster, f.count, -1)
    })
    await img.writebackLock.run(() => writeBlocksDurably(img))
  }
  if (img.lazy && img.header.dirty) {
    await img.allocLock.run(async () => {
      if (img.l2Cache.hasDirty() || img.pendingFrees.length > 0) return
      await img.writebackLock.run(() => writeBlocksDurably(img))
      await img.updateHeader(withIncompatibleBit(img.header, INCOMPAT_DIRTY, false))
    })
  }
}

/** Writes the dirty refcount blocks and a barrier; on failure they stay dirty for the next flush. */
const writeBlocksDurably = async (img: Image): Promise<void> => {
  const restore = await img.refcounts.writeDirtyBlocks()
  try {
    await img.io.flush()
  } catch (e) {
    restore()
    throw e
  }
}
