// COPIED flags against stored refcounts, like QEMU's check_oflag_copied: every entry must be COPIED exactly when its cluster's refcount is 1.
import { COPIED_HI, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { readBytes } from '../io/metadata-read.js'
import { dataEntriesOf, hex64 } from './references.js'
import { BlockReader, type StoredRefcounts } from './stored-refcounts.js'

/** An L1 or L2 entry whose COPIED flag disagrees with its cluster's refcount. */
export type CopiedProblem =
  | { readonly table: 'l1'; readonly index: number; readonly refcount: number }
  | { readonly table: 'l2'; readonly l2Offset: number; readonly index: number; readonly refcount: number }

/** Where COPIED problems go: the entries to fix, and the lines to print, starting with `verb`. */
export interface CopiedSink {
  readonly out: CopiedProblem[]
  readonly problems: string[]
  readonly verb: string
}

/** One L2 table being compared: its bytes, its data entries, and the refcount block they are looked up in. */
interface TableScan {
  readonly l2Offset: number
  readonly view: DataView
  readonly dataEntries: Int32Array
  /** Index of the refcount block in `reader`, -1 before the first. */
  blockIndex: number
  reader: BlockReader | undefined
}

/**
 * Compares data entries from the `from`-th on while their clusters' refcounts are in the scan's
 * current block; returns where it stopped: the first needing another block, or the list's end.
 * Synchronous, so that its loop is optimised while it runs.
 */
const compareEntries = (img: Image, scan: TableScan, from: number, sink: CopiedSink): number => {
  const cs = img.g.clusterSize
  const per = img.g.refcountsPerBlock
  const { view, dataEntries } = scan
  for (let k = from; k < dataEntries.length; k++) {
    const j = dataEntries[k]
    const hi = view.getUint32(j * 8)
    const lo = view.getUint32(j * 8 + 4)
    const cluster = Math.floor(entryOffset(hi, lo) / cs)
    const index = Math.floor(cluster / per)
    if (index !== scan.blockIndex) return k
    if (scan.reader === undefined) continue
    const r = scan.reader.get(cluster - index * per)
    if ((r === 1) !== ((hi & COPIED_HI) !== 0)) {
      sink.problems.push(`${sink.verb} OFLAG_COPIED data cluster: l2_entry=${hex64(hi, lo)} refcount=${r}`)
      sink.out.push({ table: 'l2', l2Offset: scan.l2Offset, index: j, refcount: r })
    }
  }
  return dataEntries.length
}

/** Compares the COPIED flags of the data entries `dataEntries` of L2 table `table` (at `l2Offset`) with stored refcounts. */
const copiedInL2 = async (img: Image, stored: StoredRefcounts, l2Offset: number, table: Uint8Array, dataEntries: Int32Array, sink: CopiedSink): Promise<void> => {
  const scan: TableScan = { l2Offset, view: new DataView(table.buffer, table.byteOffset, table.byteLength), dataEntries, blockIndex: -1, reader: undefined }
  for (let k = compareEntries(img, scan, 0, sink); k < dataEntries.length; k = compareEntries(img, scan, k, sink)) {
    const j = dataEntries[k]
    const cluster = Math.floor(entryOffset(scan.view.getUint32(j * 8), scan.view.getUint32(j * 8 + 4)) / img.g.clusterSize)
    scan.blockIndex = Math.floor(cluster / img.g.refcountsPerBlock)
    const block = await stored.block(scan.blockIndex)
    scan.reader = block === 'error' ? undefined : new BlockReader(img, block)
  }
}

/** Compares the COPIED flags of one active L1 entry and of its L2 table with stored refcounts. */
export const copiedInTable = async (
  img: Image,
  stored: StoredRefcounts,
  sink: CopiedSink,
  l1Index: number,
  hi: number,
  lo: number,
  l2Offset: number,
  table: Uint8Array,
  dataEntries: Int32Array,
): Promise<void> => {
  const refcount = await stored.get(Math.floor(l2Offset / img.g.clusterSize))
  if (refcount === undefined) return
  if ((refcount === 1) !== ((hi & COPIED_HI) !== 0)) {
    sink.problems.push(`${sink.verb} OFLAG_COPIED L2 cluster: l1_index=${l1Index} l1_entry=${hex64(hi, lo)} refcount=${refcount}`)
    sink.out.push({ table: 'l1', index: l1Index, refcount })
  }
  await copiedInL2(img, stored, l2Offset, table, dataEntries, sink)
}

/** Finds COPIED flags that disagree with stored refcounts in the active tables, reading them from the device. */
export const checkCopied = async (img: Image, stored: StoredRefcounts, problems: string[], verb = 'ERROR'): Promise<CopiedProblem[]> => {
  const h = img.header
  const sink: CopiedSink = { out: [], problems, verb }
  const l1 = await readBytes(img.io, h.l1TableOffset, h.l1Size * 8)
  const view = new DataView(l1.buffer, l1.byteOffset, l1.byteLength)
  const dataEntries = new Int32Array(img.g.l2Entries)
  for (let i = 0; i < h.l1Size; i++) {
    const hi = view.getUint32(i * 8)
    const lo = view.getUint32(i * 8 + 4)
    const l2Offset = entryOffset(hi, lo)
    if (l2Offset === 0) continue
    const table = await readBytes(img.io, l2Offset, img.g.clusterSize)
    await copiedInTable(img, stored, sink, i, hi, lo, l2Offset, table, dataEntries.subarray(0, dataEntriesOf(table, dataEntries)))
  }
  return sink.out
}
