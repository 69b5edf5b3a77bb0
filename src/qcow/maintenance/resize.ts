// Resizing the virtual disk: a larger L1 table and hidden backing data before the size grows, freeing clusters when shrinking.
import { unsupported } from '../../block/errors.js'
import { MAX_L1_BYTES } from '../format/constants.js'
import { COMPRESSED_HI, entryOffset, l2Kind } from '../format/entries.js'
import { l1EntriesFor } from '../format/geometry.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { fail } from '../io/fault.js'
import { flushImage } from '../io/flush.js'
import { L1Table, l1EntryTarget } from '../map/l1-table.js'
import { backingOf } from '../backing/layer.js'
import { writeGuestHeld } from '../io/write.js'
import { seekAllocation } from './extents.js'
import { setClusters, writeZeroData, zeroPartial } from './zeroing.js'

/** Every guest cluster, for locks that must exclude all writes. */
const ALL_CLUSTERS = Number.MAX_SAFE_INTEGER

/**
 * Moves the active L1 table to new clusters with `entries` entries: the copy (and the refcounts of
 * its clusters) is written and flushed, then the header switches to it together with the size
 * `size` (a table longer than the size needs is valid), then the old table is freed.
 */
const growL1 = async (img: Image, entries: number, size: number): Promise<void> => {
  const cs = img.g.clusterSize
  const clusters = Math.ceil((entries * 8) / cs)
  const old = img.l1
  const oldClusters = Math.ceil(old.bytes.byteLength / cs)
  const bytes = new Uint8Array(clusters * cs)
  bytes.set(old.bytes)
  const { first } = await img.allocate(clusters)
  const offset = first * cs
  await img.writebackLock.run(async () => {
    if (!img.lazy) await img.refcounts.writeDirtyBlocks()
    await img.io.write(offset, bytes)
    await img.io.flush()
  })
  await img.updateHeader({ ...img.header, size, l1Size: entries, l1TableOffset: offset })
  img.l1 = new L1Table(offset, bytes.subarray(0, entries * 8))
  if (oldClusters > 0) {
    await img.withRefcounts(() => img.refcounts.update(old.offset / cs, oldClusters, -1))
    await img.writebackLock.run(async () => {
      await img.refcounts.writeDirtyBlocks()
      await img.io.flush()
    })
  }
}

/** Drops the L2 tables of L1 entries `[from, l1.size)` and queues the release of everything they referenced. */
const dropL2Tables = async (img: Image, from: number): Promise<void> => {
  const cs = img.g.clusterSize
  const l1 = img.l1
  const touched = new Set<number>()
  for (let i = from; i < l1.size; i++) {
    if (l1.hi(i) === 0 && l1.lo(i) === 0) continue
    const table = l1EntryTarget(l1.hi(i), l1.lo(i), cs, img.io.sizeBytes)
    if (typeof table === 'string') return img.corrupt(table)
    if (table !== 0) {
      const l2 = await img.l2Cache.acquire(table)
      try {
        for (let j = 0; j < img.g.l2Entries; j++) {
          const hi = l2.view.getUint32(j * 8)
          const lo = l2.view.getUint32(j * 8 + 4)
          if ((hi & COMPRESSED_HI) !== 0) img.pendingFrees.push(compressedClusters(img, hi, lo))
          else {
            const kind = l2Kind(hi, lo)
            if (kind === 'normal' || kind === 'zeroAllocated') img.pendingFrees.push({ firstCluster: entryOffset(hi, lo) / cs, count: 1 })
          }
        }
      } finally {
        img.l2Cache.release(l2)
      }
      img.pendingFrees.push({ firstCluster: table / cs, count: 1 })
    }
    l1.view.setUint32(i * 8, 0)
    l1.view.setUint32(i * 8 + 4, 0)
    l1.changes.note(i)
    touched.add(Math.floor((i * 8) / 512))
  }
  for (const sector of touched) await l1.writeEntry(img.io, (sector * 512) / 8)
}

/** Frees every guest cluster at and past byte `newSize` (rounded up to a cluster), references first. */
const shrink = async (img: Image, newSize: number): Promise<void> => {
  const { clusterSize, l2Entries } = img.g
  const firstGone = Math.ceil(newSize / clusterSize)
  const keptTables = Math.ceil(firstGone / l2Entries)
  const partialEnd = Math.min(Math.ceil(img.header.size / clusterSize), keptTables * l2Entries)
  if (firstGone < partialEnd) await setClusters(img, firstGone, partialEnd, 'deallocate')
  await dropL2Tables(img, keptTables)
}

/** The end of the part of new guest bytes `[from, to)` a longer backing would show through (at most `from`: none). */
const backingShowsUntil = (img: Image, from: number, to: number): number => {
  const backing = backingOf(img.lower)
  return Math.max(from, Math.min(to, backing === undefined ? 0 : backing.backing.sizeBytes))
}

/**
 * Grows the virtual size to `newSize`; guest bytes from `from` (a cluster boundary or `newSize`)
 * on are new space. Where a longer backing would show through it, the new space is
 * first made to read as zeroes, as QEMU does: ZERO clusters on version 3, zero data on version 2
 * (where QEMU refuses the resize instead). Those entries lie past the current size, where nothing
 * reads them, and are flushed before the header takes the new size, so a crash leaves either the
 * old size or the new one over zeroes, never backing data. A larger L1 table is switched to first,
 * under the old size when zeroes must still be written. The caller holds the range lock.
 */
const grow = async (img: Image, entries: number, from: number, newSize: number): Promise<void> => {
  const hideUntil = backingShowsUntil(img, from, newSize)
  if (entries > img.l1.size) await growL1(img, entries, hideUntil > from ? img.header.size : newSize)
  if (hideUntil > from) {
    const cs = img.g.clusterSize
    if (img.header.version === 3) await setClusters(img, from / cs, Math.ceil(hideUntil / cs), 'zero')
    else await writeZeroData(img, from, hideUntil - from, writeGuestHeld)
    await flushImage(img)
  }
  if (img.header.size !== newSize) await img.updateHeader({ ...img.header, size: newSize })
}

/**
 * Changes the virtual size to `newSize` bytes. Growing needs no data change (new space is
 * unallocated, and the tail of a cut last cluster is zeroed first) unless a longer backing would show
 * through it (see `grow`); shrinking frees the clusters past the new end and is refused while
 * some are allocated unless `allowShrink`.
 */
export const resizeImage = async (img: Image, newSize: number, allowShrink: boolean): Promise<void> => {
  const entries = l1EntriesFor(img.g, newSize)
  if (entries * 8 > MAX_L1_BYTES) return fail(unsupported('resize', `new size ${newSize} needs an L1 table larger than QEMU's limit of ${MAX_L1_BYTES} bytes`))
  const oldSize = img.header.size
  if (newSize === oldSize) return
  const cs = img.g.clusterSize
  // The cut-off tail of the old last cluster may hold data from before a shrink: it is zeroed, and the
  // flush below makes that durable, before the larger size is written, so no crash can expose it.
  const tailEnd = Math.min(newSize, Math.ceil(oldSize / cs) * cs)
  if (newSize > oldSize && tailEnd > oldSize) await zeroPartial(img, oldSize, tailEnd - oldSize)
  const unlock = await img.ranges.acquire(0, ALL_CLUSTERS)
  try {
    await flushImage(img)
    if (newSize > oldSize) await grow(img, entries, Math.max(oldSize, tailEnd), newSize)
    else {
      const keptEnd = Math.ceil(newSize / cs) * cs
      if (!allowShrink && keptEnd < oldSize && (await seekAllocation(img, keptEnd, true)) < oldSize) {
        return fail(unsupported('shrink', `clusters past ${newSize} bytes are allocated; pass allowShrink to free them`))
      }
      await shrink(img, newSize)
      await img.updateHeader({ ...img.header, size: newSize })
    }
    await flushImage(img)
  } finally {
    unlock()
  }
}
