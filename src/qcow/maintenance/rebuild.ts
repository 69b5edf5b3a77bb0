// Writing a fresh refcount structure from counted references, placed the way QEMU's check -r all places it (first free clusters).
import { setReftableEntry } from '../format/entries.js'
import { setRefcount } from '../format/refcount-block.js'
import type { Image } from '../image.js'
import type { References } from './references.js'

/** Allocation of free clusters in the counted references, like QEMU's alloc_clusters_imrt. */
const allocCounted = (refs: References, count: number, hint: { firstFree: number }): number => {
  let cluster = hint.firstFree
  let run = 0
  let firstGap = true
  const end = refs.end()
  for (; cluster < end && run < count; cluster++) {
    if (refs.get(cluster) === 0) {
      run++
      if (firstGap) {
        hint.firstFree = cluster
        firstGap = false
      }
    } else run = 0
  }
  const start = cluster - run
  for (let c = start; c < start + count; c++) refs.set(c, 1)
  return start
}

/** The refcount table being built: block offsets per index. */
interface NewTable {
  entries: number[]
}

/**
 * Writes the refcount blocks covering every counted cluster in `[first, end)` (allocating blocks for
 * those not yet placed). Returns true when the table needed more entries than before.
 */
const writeBlocks = async (img: Image, refs: References, first: number, end: number, table: NewTable): Promise<boolean> => {
  const { clusterSize: cs, refcountsPerBlock: per, refcountOrder } = img.g
  const hint = { firstFree: 0 }
  let grown = false
  let stop = end
  for (let cluster = first; cluster < stop; cluster++) {
    if (refs.get(cluster) === 0) continue
    const index = Math.floor(cluster / per)
    const blockStart = index * per
    let offset = table.entries[index] ?? 0
    if (offset === 0) {
      if (hint.firstFree < blockStart) hint.firstFree = blockStart
      const placed = allocCounted(refs, 1, hint)
      if (placed >= stop) stop = placed + 1
      const perTableCluster = cs / 8
      if (table.entries.length <= index) {
        const size = Math.ceil((index + 1) / perTableCluster) * perTableCluster
        while (table.entries.length < size) table.entries.push(0)
        grown = true
      }
      offset = placed * cs
      table.entries[index] = offset
    }
    const block = new Uint8Array(cs)
    const view = new DataView(block.buffer)
    const limit = Math.min(refs.end(), blockStart + per)
    for (let c = blockStart; c < limit; c++) {
      const value = refs.get(c)
      if (value !== 0) setRefcount(block, view, refcountOrder, c - blockStart, value)
    }
    await img.io.write(offset, block)
    cluster = blockStart + per - 1
  }
  return grown
}

/**
 * Replaces the refcount structure with one computed from `refs` (every reference, as a check counts
 * them; it gains the new structure's own clusters). Blocks and table are written and flushed before
 * the header switches to them. The old structure's clusters keep the counts `refs` gave them: the
 * caller reclaims them as leaks afterwards.
 */
export const writeRefcountStructure = async (img: Image, refs: References): Promise<void> => {
  const cs = img.g.clusterSize
  const table: NewTable = { entries: [] }
  await writeBlocks(img, refs, 0, refs.end(), table)
  let tableOffset = -1
  let tableClusters = 0
  for (;;) {
    if (tableOffset >= 0) for (let c = 0; c < tableClusters; c++) refs.set(tableOffset / cs + c, 0)
    tableClusters = Math.max(1, Math.ceil((table.entries.length * 8) / cs))
    tableOffset = allocCounted(refs, tableClusters, { firstFree: 0 }) * cs
    const start = tableOffset / cs
    if (!(await writeBlocks(img, refs, start, start + tableClusters, table))) break
  }
  const bytes = new Uint8Array(tableClusters * cs)
  const view = new DataView(bytes.buffer)
  table.entries.forEach((offset, i) => setReftableEntry(view, i, offset))
  await img.io.write(tableOffset, bytes)
  await img.io.flush()
  await img.updateHeader({ ...img.header, refcountTableOffset: tableOffset, refcountTableClusters: tableClusters })
  img.refcounts.replaceTable(tableOffset, tableClusters, bytes)
  img.zeroFrom = Math.max(img.zeroFrom, refs.end() * cs)
}
