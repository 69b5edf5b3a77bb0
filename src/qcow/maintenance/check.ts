// The consistency check: stored refcounts against counted references, and COPIED flags, counted as `qemu-img check` counts them.
import type { CheckReport } from '../api.js'
import { COPIED_HI, entryOffset, l2Kind } from '../format/entries.js'
import { getRefcount } from '../format/refcount-block.js'
import type { Image } from '../image.js'
import { readBytes } from '../io/metadata-read.js'
import { countReferences, hex64, readReftable, type Counted } from './references.js'

/** Refcount blocks kept while comparing. */
const BLOCK_CACHE = 64

/** Refcounts as stored on the device, read past the engine's caches so a check changes nothing. */
export class StoredRefcounts {
  private readonly blocks = new Map<number, Uint8Array | 'zero' | 'error'>()

  constructor(
    private readonly img: Image,
    private readonly reftable: DataView,
  ) {}

  /** Refcount block `index`: its bytes, 'zero' when absent (all refcounts 0) or 'error' when its entry is unaligned. */
  async block(index: number): Promise<Uint8Array | 'zero' | 'error'> {
    const hit = this.blocks.get(index)
    if (hit !== undefined) return hit
    let found: Uint8Array | 'zero' | 'error' = 'zero'
    if (index < this.reftable.byteLength / 8) {
      const hi = this.reftable.getUint32(index * 8)
      const lo = this.reftable.getUint32(index * 8 + 4) & 0xfffffe00
      const offset = hi * 0x100000000 + (lo >>> 0)
      if (offset % this.img.g.clusterSize !== 0) found = 'error'
      else if (offset !== 0) found = await readBytes(this.img.io, offset, this.img.g.clusterSize)
    }
    if (this.blocks.size >= BLOCK_CACHE) this.blocks.delete(this.blocks.keys().next().value as number)
    this.blocks.set(index, found)
    return found
  }

  /** The stored refcount of cluster `cluster`, or undefined when it cannot be read. */
  async get(cluster: number): Promise<number | undefined> {
    const per = this.img.g.refcountsPerBlock
    const index = Math.floor(cluster / per)
    const block = await this.block(index)
    if (block === 'error') return undefined
    if (block === 'zero') return 0
    return getRefcount(block, new DataView(block.buffer, block.byteOffset, block.byteLength), this.img.g.refcountOrder, cluster - index * per)
  }
}

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

/** Compares every cluster's stored refcount with its references, like QEMU's compare_refcounts. */
export const compareRefcounts = async (img: Image, counted: Counted, stored: StoredRefcounts): Promise<Comparison> => {
  const per = img.g.refcountsPerBlock
  const refs = counted.refs
  const end = refs.end()
  const mismatches: Mismatch[] = []
  const problems: string[] = []
  let highest = 0
  let checkErrors = 0
  let rebuild = false
  const visit = (c: number, refcount: number): void => {
    const reference = refs.get(c)
    if (refcount > 0 || reference > 0) highest = c
    if (refcount === reference) return
    if (refcount === 0) rebuild = true
    mismatches.push({ cluster: c, refcount, reference })
    problems.push(`${refcount < reference ? 'ERROR' : 'Leaked'} cluster ${c} refcount=${refcount} reference=${reference}`)
  }
  const beyond = [...refs.sparse.keys()].sort((a, b) => a - b)
  const blockIndexes = new Set<number>()
  for (let b = 0; b * per < refs.fileClusters; b++) blockIndexes.add(b)
  for (const c of beyond) blockIndexes.add(Math.floor(c / per))
  for (const b of [...blockIndexes].sort((x, y) => x - y)) {
    const from = b * per
    const to = Math.min(end, from + per)
    const block = await stored.block(b)
    if (block === 'error') {
      for (let c = from; c < to; c++) {
        problems.push(`Can't get refcount for cluster ${c}: Input/output error`)
        checkErrors++
      }
      continue
    }
    if (block === 'zero' && from >= refs.fileClusters) {
      for (const c of beyond) if (c >= from && c < to) visit(c, 0)
      continue
    }
    const view = block === 'zero' ? undefined : new DataView(block.buffer, block.byteOffset, block.byteLength)
    for (let c = from; c < to; c++) visit(c, view === undefined || block === 'zero' ? 0 : getRefcount(block, view, img.g.refcountOrder, c - from))
  }
  return { mismatches, highest, checkErrors, problems, rebuild }
}

/** An L1 or L2 entry whose COPIED flag disagrees with its cluster's refcount. */
export type CopiedProblem =
  | { readonly table: 'l1'; readonly index: number; readonly refcount: number }
  | { readonly table: 'l2'; readonly l2Offset: number; readonly index: number; readonly refcount: number }

/** Finds COPIED flags that disagree with stored refcounts in the active tables, like QEMU's check_oflag_copied. */
export const checkCopied = async (img: Image, stored: StoredRefcounts, problems: string[], verb = 'ERROR'): Promise<CopiedProblem[]> => {
  const cs = img.g.clusterSize
  const h = img.header
  const out: CopiedProblem[] = []
  const l1 = await readBytes(img.io, h.l1TableOffset, h.l1Size * 8)
  const l1View = new DataView(l1.buffer, l1.byteOffset, l1.byteLength)
  for (let i = 0; i < h.l1Size; i++) {
    const hi = l1View.getUint32(i * 8)
    const lo = l1View.getUint32(i * 8 + 4)
    const l2Offset = entryOffset(hi, lo)
    if (l2Offset === 0) continue
    const refcount = await stored.get(Math.floor(l2Offset / cs))
    if (refcount === undefined) continue
    if ((refcount === 1) !== ((hi & COPIED_HI) !== 0)) {
      problems.push(`${verb} OFLAG_COPIED L2 cluster: l1_index=${i} l1_entry=${hex64(hi, lo)} refcount=${refcount}`)
      out.push({ table: 'l1', index: i, refcount })
    }
    const l2 = await readBytes(img.io, l2Offset, cs)
    const view = new DataView(l2.buffer, l2.byteOffset, l2.byteLength)
    for (let j = 0; j < img.g.l2Entries; j++) {
      const ehi = view.getUint32(j * 8)
      const elo = view.getUint32(j * 8 + 4)
      const kind = l2Kind(ehi, elo)
      if (kind !== 'normal' && kind !== 'zeroAllocated') continue
      const r = await stored.get(Math.floor(entryOffset(ehi, elo) / cs))
      if (r === undefined) continue
      if ((r === 1) !== ((ehi & COPIED_HI) !== 0)) {
        problems.push(`${verb} OFLAG_COPIED data cluster: l2_entry=${hex64(ehi, elo)} refcount=${r}`)
        out.push({ table: 'l2', l2Offset, index: j, refcount: r })
      }
    }
  }
  return out
}

/** Everything a check learns, for the report and for repair. */
export interface Analysis {
  readonly counted: Counted
  readonly comparison: Comparison
  readonly copied: CopiedProblem[]
  readonly stored: StoredRefcounts
}

/** Walks the image as stored on the device (callers flush first and hold off writes). */
export const analyze = async (img: Image): Promise<Analysis> => {
  const reftable = await readReftable(img)
  const counted = await countReferences(img, reftable)
  const stored = new StoredRefcounts(img, reftable)
  const comparison = await compareRefcounts(img, counted, stored)
  const problems: string[] = []
  const copied = await checkCopied(img, stored, problems)
  counted.problems.push(...comparison.problems, ...problems)
  return { counted, comparison, copied, stored }
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
