// The write path: in-place writes, allocation of new clusters (zero fill, copy-on-write, decompression) and L2 updates.
import type { CachedTable } from '../cache/table-cache.js'
import { COMPRESSED_HI, COPIED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset, offsetHi, offsetLo } from '../format/entries.js'
import type { Image } from '../image.js'
import { checkDataWrite } from '../maintenance/overlaps.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForWrite } from '../map/l2-tables.js'
import { compressedClusters, readCompressedCluster } from './compressed.js'
import { region } from './read.js'
import { readUnallocated } from './unallocated.js'

/** How one guest cluster of a write is served. */
const enum Mode {
  /** Normal cluster with COPIED: write in place. */
  InPlace,
  /** Preallocated zero cluster with COPIED: write the whole cluster where it is, then clear ZERO. */
  Reuse,
  /** Anything else: write the whole cluster to a newly allocated one. */
  Allocate,
}

/** What the rest of a partially written cluster is filled with. */
const enum Fill {
  Zero,
  Lower,
  Compressed,
  Copy,
}

interface ClusterWrite {
  readonly slot: number
  readonly within: number
  readonly length: number
  /** Position of the data in the request's buffers. */
  readonly at: number
  readonly mode: Mode
  readonly fill: Fill
  readonly hi: number
  readonly lo: number
  host: number
  /** The host cluster is known to read as zeroes. */
  zero: boolean
}

interface Segment {
  host: number
  length: number
  readonly buffers: Uint8Array[]
}

const classify = (hi: number, lo: number): { mode: Mode; fill: Fill } => {
  if ((hi & COMPRESSED_HI) !== 0) return { mode: Mode.Allocate, fill: Fill.Compressed }
  const hasOffset = (hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0
  const copied = (hi & COPIED_HI) !== 0
  if ((lo & ZERO_LO) !== 0) return { mode: hasOffset && copied ? Mode.Reuse : Mode.Allocate, fill: Fill.Zero }
  if (!hasOffset) return { mode: Mode.Allocate, fill: Fill.Lower }
  return { mode: copied ? Mode.InPlace : Mode.Allocate, fill: Fill.Copy }
}

/** Where a cluster's write starts inside the cluster, and its buffers. */
interface ClusterBuffers {
  readonly from: number
  readonly buffers: Uint8Array[]
}

/**
 * The buffers that write cluster `c` whole (or only its data when the cluster already reads as
 * zeroes, or is written in place). Returned directly when no background has to be read first.
 */
const clusterBuffers = (img: Image, c: ClusterWrite, guestCluster: number, data: Uint8Array[]): ClusterBuffers | Promise<ClusterBuffers> => {
  const size = img.g.clusterSize
  const end = c.within + c.length
  if (c.mode === Mode.InPlace || (c.within === 0 && end === size)) return { from: c.within, buffers: data }
  const zeroFill = c.fill === Fill.Zero || (c.fill === Fill.Lower && img.lower.allZero)
  if (zeroFill && c.zero) return { from: c.within, buffers: data }
  return zeroFill ? aroundData(img.zeroCluster, c, data) : withBackground(img, c, guestCluster, data)
}

/** The cluster's current content (decompressed, copied or from the layer below) around the new data. */
const withBackground = async (img: Image, c: ClusterWrite, guestCluster: number, data: Uint8Array[]): Promise<ClusterBuffers> => {
  const size = img.g.clusterSize
  if (c.fill === Fill.Compressed) return aroundData(await readCompressedCluster(img, c.hi, c.lo), c, data)
  const background = new Uint8Array(size)
  if (c.fill === Fill.Copy) await img.io.read(entryOffset(c.hi, c.lo), background)
  else await readUnallocated(img.lower, guestCluster * size, [background], 0, size)
  return aroundData(background, c, data)
}

/** The whole cluster: `background` before and after the new data. */
const aroundData = (background: Uint8Array, c: ClusterWrite, data: Uint8Array[]): ClusterBuffers => {
  const end = c.within + c.length
  const buffers: Uint8Array[] = []
  if (c.within > 0) buffers.push(background.subarray(0, c.within))
  for (const d of data) buffers.push(d)
  if (end < background.byteLength) buffers.push(background.subarray(end))
  return { from: 0, buffers }
}

/** Queues the refcount decrease of the cluster an entry referenced before it was replaced. */
const releaseOld = (img: Image, c: ClusterWrite): void => {
  if (c.mode !== Mode.Allocate) return
  if (c.fill === Fill.Compressed) img.pendingFrees.push(compressedClusters(img, c.hi, c.lo))
  else if ((c.hi & OFFSET_HI_MASK) !== 0 || (c.lo & OFFSET_LO_MASK) !== 0) {
    img.pendingFrees.push({ firstCluster: entryOffset(c.hi, c.lo) / img.g.clusterSize, count: 1 })
  }
}

/**
 * The host offset of guest bytes `[guest, guest + length)` when every cluster of them is written in
 * place and they are contiguous on the host, else -1 (the general path then decides, and reports
 * invalid entries).
 */
const inPlaceRun = (img: Image, view: DataView, guest: number, length: number): number => {
  const { clusterSize, l2Entries } = img.g
  let start = -1
  for (let pos = 0; pos < length; ) {
    const offset = guest + pos
    const within = offset % clusterSize
    const slot = Math.floor(offset / clusterSize) % l2Entries
    const hi = view.getUint32(slot * 8)
    const lo = view.getUint32(slot * 8 + 4)
    if ((hi & COPIED_HI) === 0 || (hi & COMPRESSED_HI) !== 0 || (lo & ZERO_LO) !== 0 || l2EntryProblem(img, hi, lo) !== undefined) return -1
    const host = entryOffset(hi, lo) + within
    if (host === within) return -1
    if (pos === 0) start = host
    else if (host !== start + pos) return -1
    pos += Math.min(clusterSize - within, length - pos)
  }
  return start
}

/** Writes guest bytes inside one L2 table's range: in place without an async frame when it can. */
const writeInTable = (img: Image, table: CachedTable, guest: number, buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Promise<void> => {
  const inPlace = inPlaceRun(img, table.view, guest, length)
  if (inPlace < 0) return planAndWrite(img, table, guest, buffers, at, length)
  const data = at === 0 && buffers.length === 1 && buffers[0].byteLength === length ? buffers : region(buffers, at, length)
  const clash = checkDataWrite(img, inPlace, length)
  return clash === undefined ? img.io.writev(inPlace, data, length) : clash.then(() => img.io.writev(inPlace, data, length))
}

/** Writes guest bytes inside one L2 table's range, cluster by cluster: allocation, fill, then the L2 update. */
const planAndWrite = async (
  img: Image,
  table: CachedTable,
  guest: number,
  buffers: ReadonlyArray<Uint8Array>,
  at: number,
  length: number,
): Promise<void> => {
  const { clusterSize, l2Entries } = img.g
  const view = table.view
  const plan: ClusterWrite[] = []
  let allocations = 0
  for (let pos = 0; pos < length; ) {
    const offset = guest + pos
    const within = offset % clusterSize
    const n = Math.min(clusterSize - within, length - pos)
    const slot = Math.floor(offset / clusterSize) % l2Entries
    const hi = view.getUint32(slot * 8)
    const lo = view.getUint32(slot * 8 + 4)
    if ((hi | lo) !== 0) {
      const problem = l2EntryProblem(img, hi, lo)
      if (problem !== undefined) return img.corrupt(problem)
    }
    const { mode, fill } = classify(hi, lo)
    if (mode === Mode.Allocate) allocations++
    plan.push({ slot, within, length: n, at: at + pos, mode, fill, hi, lo, host: mode === Mode.Allocate ? 0 : entryOffset(hi, lo), zero: false })
    pos += n
  }
  if (allocations > 0) {
    const allocating = img.allocate(allocations)
    const { first, zero } = allocating instanceof Promise ? await allocating : allocating
    let next = first
    for (const c of plan) {
      if (c.mode !== Mode.Allocate) continue
      c.host = next++ * clusterSize
      c.zero = zero
    }
  }
  const segments: Segment[] = []
  const firstGuestCluster = Math.floor(guest / clusterSize)
  for (let i = 0; i < plan.length; i++) {
    const c = plan[i]
    const built = clusterBuffers(img, c, firstGuestCluster + i, region(buffers, c.at, c.length))
    const { from, buffers: parts } = built instanceof Promise ? await built : built
    let bytes = 0
    for (const p of parts) bytes += p.byteLength
    const host = c.host + from
    const last = segments[segments.length - 1]
    if (last !== undefined && last.host + last.length === host) {
      for (const p of parts) last.buffers.push(p)
      last.length += bytes
    } else segments.push({ host, length: bytes, buffers: parts })
  }
  for (const s of segments) {
    const clash = checkDataWrite(img, s.host, s.length)
    if (clash !== undefined) await clash
  }
  if (segments.length === 1) await img.io.writev(segments[0].host, segments[0].buffers, segments[0].length)
  else await Promise.all(segments.map((s) => img.io.writev(s.host, s.buffers, s.length)))
  let changed = false
  for (const c of plan) {
    if (c.mode === Mode.InPlace) continue
    view.setUint32(c.slot * 8, (COPIED_HI | offsetHi(c.host)) >>> 0)
    view.setUint32(c.slot * 8 + 4, offsetLo(c.host))
    releaseOld(img, c)
    changed = true
  }
  if (changed) img.l2Cache.markDirty(table)
}

/**
 * Writes guest bytes `[offset, offset + length)` from `buffers` (offset and length are multiples of
 * 512) for a caller that already holds the range lock over those clusters.
 */
export const writeGuestHeld = async (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  const { l2Coverage } = img.g
  for (let pos = 0; pos < length; ) {
    const guest = offset + pos
    const l1Index = Math.floor(guest / l2Coverage)
    const chunkEnd = Math.min(length, (l1Index + 1) * l2Coverage - offset)
    const found = l2ForWrite(img, l1Index)
    const table = found instanceof Promise ? await found : found
    try {
      await writeInTable(img, table, guest, buffers, pos, chunkEnd - pos)
    } finally {
      img.l2Cache.release(table)
    }
    pos = chunkEnd
  }
}

/** Writes inside the pinned L2 `table`, unpinning it however the write ends. */
const writeUnpinning = (img: Image, table: CachedTable, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  let written: Promise<void>
  try {
    written = writeInTable(img, table, offset, buffers, 0, length)
  } catch (e) {
    img.l2Cache.release(table)
    throw e
  }
  return written.finally(() => img.l2Cache.release(table))
}

/** `writeGuestHeld` without an async frame when the range lies in one L2 table's range. */
const writeHeld = (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  const { l2Coverage } = img.g
  const l1Index = Math.floor(offset / l2Coverage)
  if (offset + length > (l1Index + 1) * l2Coverage) return writeGuestHeld(img, offset, buffers, length)
  const found = l2ForWrite(img, l1Index)
  return found instanceof Promise
    ? found.then((table) => writeUnpinning(img, table, offset, buffers, length))
    : writeUnpinning(img, found, offset, buffers, length)
}

/** Runs `write` (started at once), then `release` however it ends. */
const releasing = (release: () => void, write: () => Promise<void>): Promise<void> => {
  let started: Promise<void>
  try {
    started = write()
  } catch (e) {
    release()
    throw e
  }
  return started.finally(release)
}

/** Writes guest bytes `[offset, offset + length)` from `buffers` (offset and length are multiples of 512). */
export const writeGuest = (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  const { clusterSize } = img.g
  const held = img.ranges.acquire(Math.floor(offset / clusterSize), Math.ceil((offset + length) / clusterSize))
  const write = (): Promise<void> => writeHeld(img, offset, buffers, length)
  return typeof held === 'function' ? releasing(held, write) : held.then((release) => releasing(release, write))
}
