// Counting every reference to each host cluster the way QEMU's check does (header, L1/L2 tables, data, snapshots, refcount structures).
import { unsupported } from '../../block/errors.js'
import { COMPRESSED_HI, COPIED_HI, L1_RESERVED_HI, L1_RESERVED_LO, L2_RESERVED_HI, L2_RESERVED_LO, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset, reftableEntryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { compressedClusters } from '../io/compressed.js'
import { fail } from '../io/fault.js'
import { readBytes, readSnapshots } from '../io/metadata-read.js'

/** Largest number of host clusters a check tracks densely (QEMU refuses images of more than 2^31 clusters). */
const MAX_DENSE_CLUSTERS = 2 ** 28

/** Reference counts per host cluster: dense inside the device, sparse past its end. */
export class References {
  readonly dense: Uint32Array
  readonly sparse = new Map<number, number>()

  constructor(
    /** Host clusters the device holds. */
    readonly fileClusters: number,
    private readonly maxRefcount: number,
  ) {
    this.dense = new Uint32Array(fileClusters)
  }

  /** References to cluster `c`. */
  get(c: number): number {
    return c < this.fileClusters ? this.dense[c] : (this.sparse.get(c) ?? 0)
  }

  /** Adds a reference to cluster `c`; false when the refcount width cannot hold it. */
  inc(c: number): boolean {
    const now = this.get(c)
    if (now >= this.maxRefcount) return false
    if (c < this.fileClusters) this.dense[c] = now + 1
    else this.sparse.set(c, now + 1)
    return true
  }

  /** Sets the count of cluster `c` (used when a rebuild allocates clusters for itself). */
  set(c: number, value: number): void {
    if (c < this.fileClusters) this.dense[c] = value
    else if (value === 0) this.sparse.delete(c)
    else this.sparse.set(c, value)
  }

  /** One past the highest referenced cluster, at least the device's cluster count. */
  end(): number {
    let end = this.fileClusters
    for (const c of this.sparse.keys()) end = Math.max(end, c + 1)
    return end
  }
}

/** The allocation statistics QEMU gathers on the active L1 table. */
export interface FragInfo {
  allocatedClusters: number
  fragmentedClusters: number
  compressedClusters: number
}

/** What counting references found, before refcounts are compared. */
export interface Counted {
  readonly refs: References
  readonly frag: FragInfo
  corruptions: number
  checkErrors: number
  /** The refcount structure itself is broken: only a rebuild repairs it. */
  rebuild: boolean
  readonly problems: string[]
}

const hex = (n: number): string => n.toString(16)
/** A 64-bit entry given as halves, in hex without leading zeroes. */
export const hex64 = (hi: number, lo: number): string => (hi === 0 ? hex(lo >>> 0) : hex(hi >>> 0) + (lo >>> 0).toString(16).padStart(8, '0'))

/** Adds one reference to every cluster touched by bytes `[offset, offset + bytes)`. */
const incRange = (img: Image, c: Counted, offset: number, bytes: number): void => {
  if (bytes <= 0) return
  const cs = img.g.clusterSize
  if (offset + bytes - img.io.sizeBytes >= cs) {
    c.problems.push(`ERROR: counting reference for region exceeding the end of the file by one cluster or more: offset 0x${hex(offset)} size 0x${hex(bytes)}`)
    c.corruptions++
    return
  }
  const last = Math.floor((offset + bytes - 1) / cs)
  for (let cluster = Math.floor(offset / cs); cluster <= last; cluster++) {
    if (!c.refs.inc(cluster)) {
      c.problems.push(
        `ERROR: overflow cluster offset=0x${hex(cluster * cs)}`,
        'Use qemu-img amend to increase the refcount entry width or qemu-img convert to create a clean copy if the image cannot be opened for writing',
      )
      c.corruptions++
    }
  }
}

/**
 * A table's bytes as 32-bit words in host order, for skipping unused (zero) entries, the most common
 * kind, quickly even before the code is optimised: an indexed load costs less than a DataView call.
 */
const wordsOf = (table: Uint8Array): Uint32Array =>
  table.byteOffset % 4 === 0 ? new Uint32Array(table.buffer, table.byteOffset, table.byteLength >>> 2) : new Uint32Array(table.slice().buffer)

/** Adds one reference to the cluster at `offset`, a cluster-aligned offset inside the device (the common case, without incRange's checks). */
const incCluster = (img: Image, c: Counted, offset: number): void => {
  const cluster = offset / img.g.clusterSize
  const dense = c.refs.dense
  const now = dense[cluster]
  if (now < img.g.maxRefcount) dense[cluster] = now + 1
  else incRange(img, c, offset, img.g.clusterSize)
}

/** Whether an L2 entry points at a data cluster (a normal or preallocated zero cluster, not compressed). */
const isDataEntry = (hi: number, lo: number): boolean => (hi & COMPRESSED_HI) === 0 && ((hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0)

/** Lists in `into` the indexes of the data entries (isDataEntry) of an L2 table; returns how many there are. */
export const dataEntriesOf = (table: Uint8Array, into: Int32Array): number => {
  const words = wordsOf(table)
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength)
  let n = 0
  for (let i = 0; i < into.length; i++) {
    if ((words[2 * i] | words[2 * i + 1]) !== 0 && isDataEntry(view.getUint32(i * 8), view.getUint32(i * 8 + 4))) into[n++] = i
  }
  return n
}

/**
 * Counts the references of one L2 table, given as its bytes; `active` also gathers the allocation
 * statistics. With `dataEntries`, lists there the indexes of its data entries and returns how many.
 */
const countL2 = (img: Image, c: Counted, table: Uint8Array, active: boolean, dataEntries: Int32Array | undefined): number => {
  const cs = img.g.clusterSize
  const deviceBytes = img.io.sizeBytes
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength)
  const words = wordsOf(table)
  let nextContiguous = 0
  let listed = 0
  for (let i = 0; i < img.g.l2Entries; i++) {
    if ((words[2 * i] | words[2 * i + 1]) === 0) continue
    const hi = view.getUint32(i * 8)
    const lo = view.getUint32(i * 8 + 4)
    const compressed = (hi & COMPRESSED_HI) !== 0
    if (!compressed && ((hi & L2_RESERVED_HI) !== 0 || (lo & L2_RESERVED_LO) !== 0)) {
      c.problems.push(`ERROR found l2 entry with reserved bits set: ${hex64(hi, lo)}`)
      c.corruptions++
    }
    if (compressed) {
      if ((hi & COPIED_HI) !== 0) {
        c.problems.push(`ERROR: coffset=0x${hex64(hi & 0x3fffffff, lo)}: copied flag must never be set for compressed clusters`)
        c.corruptions++
      }
      const { firstCluster, count } = compressedClusters(img, hi, lo)
      incRange(img, c, firstCluster * cs, count * cs)
      if (active) {
        c.frag.allocatedClusters++
        c.frag.compressedClusters++
        c.frag.fragmentedClusters++
      }
      continue
    }
    if (!isDataEntry(hi, lo)) continue
    if (dataEntries !== undefined) dataEntries[listed++] = i
    const offset = entryOffset(hi, lo)
    if (active) {
      c.frag.allocatedClusters++
      if (nextContiguous !== 0 && offset !== nextContiguous) c.frag.fragmentedClusters++
      nextContiguous = offset + cs
    }
    if (offset % cs === 0 && offset < deviceBytes) {
      incCluster(img, c, offset)
      continue
    }
    if (offset % cs !== 0) {
      c.corruptions++
      c.problems.push(
        (lo & ZERO_LO) !== 0
          ? `ERROR offset=${hex(offset)}: Preallocated cluster is not properly aligned; L2 entry corrupted.`
          : `ERROR offset=${hex(offset)}: Data cluster is not properly aligned; L2 entry corrupted.`,
      )
    }
    incRange(img, c, offset, cs)
  }
  return listed
}

/** L2 tables read ahead of the one being counted. */
const READ_AHEAD = 4

/** A read whose failure is kept until it is awaited, so reads started ahead never reject unobserved. */
const settled = (read: Promise<Uint8Array>): Promise<() => Uint8Array> =>
  read.then(
    (bytes) => () => bytes,
    (cause: unknown) => () => {
      throw cause
    },
  )

/**
 * Called with each L2 table of the active L1 table once it is counted: its L1 index and entry, its
 * offset, its bytes and the indexes of its data entries (a check uses them to compare COPIED flags
 * without reading or scanning the table again).
 */
export type ActiveTableVisitor = (l1Index: number, hi: number, lo: number, l2Offset: number, table: Uint8Array, dataEntries: Int32Array) => Promise<void>

/**
 * Counts an L1 table, its L2 tables (read READ_AHEAD at a time) and everything they reference;
 * `active` also gathers the allocation statistics.
 */
const countL1 = async (img: Image, c: Counted, l1Offset: number, l1Size: number, active: boolean, visit?: ActiveTableVisitor): Promise<void> => {
  if (l1Size === 0) return
  const cs = img.g.clusterSize
  incRange(img, c, l1Offset, l1Size * 8)
  const l1 = await readBytes(img.io, l1Offset, l1Size * 8)
  const view = new DataView(l1.buffer, l1.byteOffset, l1.byteLength)
  const used: number[] = []
  for (let i = 0; i < l1Size; i++) if ((view.getUint32(i * 8) | view.getUint32(i * 8 + 4)) !== 0) used.push(i)
  const tableOffset = (i: number): number => entryOffset(view.getUint32(i * 8), view.getUint32(i * 8 + 4))
  const dataEntries = visit === undefined ? undefined : new Int32Array(img.g.l2Entries)
  const reads = used.slice(0, READ_AHEAD).map((i) => settled(readBytes(img.io, tableOffset(i), cs)))
  for (let k = 0; k < used.length; k++) {
    const i = used[k]
    const hi = view.getUint32(i * 8)
    const lo = view.getUint32(i * 8 + 4)
    if ((hi & L1_RESERVED_HI) !== 0 || (lo & L1_RESERVED_LO) !== 0) {
      c.problems.push(`ERROR found L1 entry with reserved bits set: ${hex64(hi, lo)}`)
      c.corruptions++
    }
    const l2Offset = entryOffset(hi, lo)
    incRange(img, c, l2Offset, cs)
    if (l2Offset % cs !== 0) {
      c.problems.push(`ERROR l2_offset=${hex(l2Offset)}: Table is not cluster aligned; L1 entry corrupted`)
      c.corruptions++
    }
    const table = (await reads[k])()
    if (k + READ_AHEAD < used.length) reads.push(settled(readBytes(img.io, tableOffset(used[k + READ_AHEAD]), cs)))
    const listed = countL2(img, c, table, active, dataEntries)
    if (visit !== undefined && dataEntries !== undefined && l2Offset !== 0) await visit(i, hi, lo, l2Offset, table, dataEntries.subarray(0, listed))
  }
}

/** Checks each refcount table entry and counts the refcount blocks it names. */
const countRefblocks = async (img: Image, c: Counted, reftable: DataView): Promise<void> => {
  const cs = img.g.clusterSize
  const entries = reftable.byteLength / 8
  for (let i = 0; i < entries; i++) {
    const offset = reftableEntryOffset(reftable, i)
    if (offset === 0) continue
    if (offset % cs !== 0) {
      c.problems.push(`ERROR refcount block ${i} is not cluster aligned; refcount table entry corrupted`)
      c.corruptions++
      c.rebuild = true
      continue
    }
    const cluster = offset / cs
    if (cluster >= c.refs.end()) {
      c.problems.push(`ERROR refcount block ${i} is outside image`)
      c.corruptions++
      c.rebuild = true
      continue
    }
    incRange(img, c, offset, cs)
    const refs = c.refs.get(cluster)
    if (refs !== 1) {
      c.problems.push(`ERROR refcount block ${i} refcount=${refs}`)
      c.corruptions++
      c.rebuild = true
    }
  }
}

/** The refcount table as stored on the device. */
export const readReftable = async (img: Image): Promise<DataView> => {
  const h = img.header
  const bytes = await readBytes(img.io, h.refcountTableOffset, h.refcountTableClusters * h.clusterSize)
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/**
 * Counts every reference in the image as stored on the device (callers flush first); `visit` sees
 * each L2 table of the active L1 table.
 */
export const countReferences = async (img: Image, reftable: DataView, visit?: ActiveTableVisitor): Promise<Counted> => {
  const h = img.header
  const cs = img.g.clusterSize
  const fileClusters = Math.ceil(img.io.sizeBytes / cs)
  if (fileClusters > MAX_DENSE_CLUSTERS) {
    return fail(unsupported('check', `the image spans ${fileClusters} clusters, more than a check can track (${MAX_DENSE_CLUSTERS})`))
  }
  const c: Counted = {
    refs: new References(fileClusters, img.g.maxRefcount),
    frag: { allocatedClusters: 0, fragmentedClusters: 0, compressedClusters: 0 },
    corruptions: 0,
    checkErrors: 0,
    rebuild: false,
    problems: [],
  }
  incRange(img, c, 0, cs)
  await countL1(img, c, h.l1TableOffset, h.l1Size, true, visit)
  const snapshots = await readSnapshots(img.io, h)
  for (const s of snapshots.snapshots) await countL1(img, c, s.l1TableOffset, s.l1Size, false)
  incRange(img, c, h.snapshotsOffset, snapshots.tableBytes)
  incRange(img, c, h.refcountTableOffset, h.refcountTableClusters * cs)
  await countRefblocks(img, c, reftable)
  return c
}
