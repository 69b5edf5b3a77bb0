// The consistency check: stored refcounts against counted references, and COPIED flags, counted as `qemu-img check` counts them.
import type { CheckReport } from '../api.js'
import type { Image } from '../image.js'
import { copiedInTable, type CopiedProblem, type CopiedSink } from './copied.js'
import { countReferences, readReftable, type Counted } from './references.js'
import { BlockReader, StoredRefcounts } from './stored-refcounts.js'

/** A cluster whose stored refcount differs from its references. */
export interface Mismatch {
  readonly cluster: number
  readonly refcount: number
  readonly reference: number
}

/** The outcome of comparing stored refcounts with references. */
export interface Comparison {
  readonly mismatches: Mismatch[]
  /** The highest cluster with a refcount or a reference. */
  readonly highest: number
  readonly checkErrors: number
  readonly problems: string[]
  /** Some referenced cluster has refcount 0: only a rebuild repairs that. */
  readonly rebuild: boolean
}

/** A comparison being gathered. */
interface Comparing {
  readonly mismatches: Mismatch[]
  readonly problems: string[]
  highest: number
  checkErrors: number
  rebuild: boolean
}

/** Records a cluster whose refcount differs from its references. */
const differ = (into: Comparing, cluster: number, refcount: number, reference: number): void => {
  if (refcount === 0) into.rebuild = true
  into.mismatches.push({ cluster, refcount, reference })
  into.problems.push(`${refcount < reference ? 'ERROR' : 'Leaked'} cluster ${cluster} refcount=${refcount} reference=${reference}`)
}

/** Compares clusters `[from, to)` with their refcounts in `reader` (the block starting at cluster `from`). Synchronous, so that its loop is optimised while it runs. */
const compareBlock = (counted: Counted, reader: BlockReader, from: number, to: number, into: Comparing): void => {
  const refs = counted.refs
  const dense = refs.dense
  for (let c = from; c < to; c++) {
    const refcount = reader.get(c - from)
    const reference = c < refs.fileClusters ? dense[c] : refs.get(c)
    if (refcount > 0 || reference > 0) into.highest = c
    if (refcount !== reference) differ(into, c, refcount, reference)
  }
}

/** Compares every cluster's stored refcount with its references, like QEMU's compare_refcounts. */
export const compareRefcounts = async (img: Image, counted: Counted, stored: StoredRefcounts): Promise<Comparison> => {
  const per = img.g.refcountsPerBlock
  const refs = counted.refs
  const end = refs.end()
  const into: Comparing = { mismatches: [], problems: [], highest: 0, checkErrors: 0, rebuild: false }
  const beyond = [...refs.sparse.keys()].sort((a, b) => a - b)
  const blockIndexes = new Set<number>()
  for (let b = 0; b * per < refs.fileClusters; b++) blockIndexes.add(b)
  for (const c of beyond) blockIndexes.add(Math.floor(c / per))
  for (const b of [...blockIndexes].sort((x, y) => x - y)) {
    const from = b * per
    const to = Math.min(end, from + per)
    const block = await stored.block(b)
    if (block === 'error') {
      for (let c = from; c < to; c++) into.problems.push(`Can't get refcount for cluster ${c}: Input/output error`)
      into.checkErrors += to - from
    } else if (block === 'zero' && from >= refs.fileClusters) {
      for (const c of beyond) {
        if (c < from || c >= to) continue
        into.highest = c
        differ(into, c, 0, refs.get(c))
      }
    } else compareBlock(counted, new BlockReader(img, block), from, to, into)
  }
  return into
}

/** Everything a check learns, for the report and for repair. */
export interface Analysis {
  readonly counted: Counted
  readonly comparison: Comparison
  readonly copied: CopiedProblem[]
  readonly stored: StoredRefcounts
}

/**
 * Walks the image as stored on the device (callers flush first and hold off writes), reading each
 * table once: the COPIED flags of the active tables are compared while their references are counted.
 */
export const analyze = async (img: Image): Promise<Analysis> => {
  const reftable = await readReftable(img)
  const stored = new StoredRefcounts(img, reftable)
  const sink: CopiedSink = { out: [], problems: [], verb: 'ERROR' }
  const counted = await countReferences(img, reftable, (i, hi, lo, l2Offset, table, dataEntries) =>
    copiedInTable(img, stored, sink, i, hi, lo, l2Offset, table, dataEntries),
  )
  const comparison = await compareRefcounts(img, counted, stored)
  counted.problems.push(...comparison.problems, ...sink.problems)
  return { counted, comparison, copied: sink.out, stored }
}

/** The report of an analysis, with QEMU's counts. */
export const reportOf = (img: Image, a: Analysis): CheckReport => {
  const cs = img.g.clusterSize
  let corruptions = a.counted.corruptions + a.copied.length
  let leaks = 0
  for (const m of a.comparison.mismatches) {
    if (m.refcount < m.reference) corruptions++
    else leaks++
  }
  return {
    corruptions,
    leaks,
    checkErrors: a.counted.checkErrors + a.comparison.checkErrors,
    fragmentedClusters: a.counted.frag.fragmentedClusters,
    compressedClusters: a.counted.frag.compressedClusters,
    allocatedClusters: a.counted.frag.allocatedClusters,
    totalClusters: Math.ceil(img.header.size / cs),
    imageEndOffset: (a.comparison.highest + 1) * cs,
    problems: a.counted.problems,
  }
}
