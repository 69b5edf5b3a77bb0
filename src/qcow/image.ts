// The state of one open image and the operations every path shares: locks, caches, header updates, allocation, corruption.
import type { BlockDevice } from '../block/device.js'
import { TableCache, markDirty, snapshotForWrite, writeEnded, writeSnapshot, type CachedTable } from './cache/table-cache.js'
import { corrupt as corruptError, type QcowError } from './errors.js'
import { INCOMPAT_CORRUPT, INCOMPAT_DIRTY } from './format/constants.js'
import { compressedLayout, type CompressedLayout } from './format/entries.js'
import type { Geometry } from './format/geometry.js'
import { serializeHeader, withFeatures, withIncompatibleBit, type ParsedHeader } from './format/header.js'
import { BaseIo } from './io/base-io.js'
import { fail } from './io/fault.js'
import { Mutex, RangeLock, ReadTracker } from './io/locks.js'
import { zeroLayer, type LowerLayer } from './io/unallocated.js'
import { checkAllocation } from './maintenance/overlaps.js'
import { L1Table } from './map/l1-table.js'
import { Refcounts } from './refcount/refcounts.js'

/** A refcount decrease waiting until the reference it belonged to is gone from the disk. */
export interface PendingFree {
  readonly firstCluster: number
  readonly count: number
}

/** Clusters handed out by `Image.allocate`: the first index, and whether they are known to read as zeroes. */
export interface Allocated {
  readonly first: number
  readonly zero: boolean
}

/** Everything `openImage` hands to a new `Image`. */
export interface ImageParts {
  readonly base: BlockDevice<QcowError>
  readonly io: BaseIo
  readonly header: ParsedHeader
  readonly geometry: Geometry
  readonly l1: L1Table
  readonly reftable: Uint8Array
  readonly readOnly: boolean
  readonly l2CacheTables: number
  readonly refcountCacheTables: number
  /** Bytes of the base device at and past this offset are known to read as zeroes. */
  readonly zeroFrom: number
}

/** One open qcow2 image. */
export class Image {
  header: ParsedHeader
  readonly g: Geometry
  readonly io: BaseIo
  /** The active L1 table (replaced when resize moves it). */
  l1: L1Table
  readonly l2Cache: TableCache
  readonly refcounts: Refcounts
  readonly compressed: CompressedLayout
  readonly readOnly: boolean
  /** Serializes allocation and every refcount change. */
  readonly allocLock = new Mutex()
  /** Serializes L2 table allocation and copy-on-write. */
  readonly l2Lock = new Mutex()
  /** Serializes metadata write-back (flush and eviction). */
  readonly writebackLock = new Mutex()
  /** Serializes writes over overlapping guest clusters. */
  readonly ranges = new RangeLock()
  readonly reads = new ReadTracker()
  /** Refcount decreases to apply once the references are gone from the disk. */
  readonly pendingFrees: PendingFree[] = []
  /** The source of unallocated guest bytes. */
  lower: LowerLayer = zeroLayer
  /** A cluster of zeroes for filling. */
  readonly zeroCluster: Uint8Array
  connected = true
  /** Set once inconsistent metadata was found: writes are refused from then on. */
  corruptFound = false
  /** Base bytes at and past this offset, not yet written by the engine, read as zeroes. */
  zeroFrom: number
  /** The last cluster decompressed, by its L2 entry (like QEMU's cluster cache); never modified; dropped when clusters are freed. */
  lastDecompressed: { readonly hi: number; readonly lo: number; readonly data: Uint8Array } | undefined

  constructor(p: ImageParts) {
    this.header = p.header
    this.g = p.geometry
    this.io = p.io
    this.l1 = p.l1
    this.readOnly = p.readOnly
    this.zeroFrom = p.zeroFrom
    this.compressed = compressedLayout(p.geometry.clusterBits)
    this.zeroCluster = new Uint8Array(p.geometry.clusterSize)
    const loader = (offset: number, into: Uint8Array): Promise<void> => this.io.read(offset, into)
    this.l2Cache = new TableCache(p.geometry.clusterSize, p.l2CacheTables, loader)
    const refblockCache = new TableCache(p.geometry.clusterSize, p.refcountCacheTables, loader)
    this.refcounts = new Refcounts(p.io, p.geometry, refblockCache, p.header.refcountTableOffset, p.header.refcountTableClusters, p.reftable, {
      switchTable: (offset, clusters) => this.updateHeader({ ...this.header, refcountTableOffset: offset, refcountTableClusters: clusters }),
      noteAllocated: (_start, end) => {
        this.zeroFrom = Math.max(this.zeroFrom, end * this.g.clusterSize)
      },
      corrupt: (reason) => this.corrupt(reason),
      freed: (cluster) => {
        this.l2Cache.drop(cluster * this.g.clusterSize)
        this.lastDecompressed = undefined
      },
    })
    this.l2Cache.setWriteback((tables) => this.writebackL2(tables))
    refblockCache.setWriteback(async (tables) => {
      for (const t of tables) if (t.dirty) await writeSnapshot(t, (bytes) => this.io.write(t.offset, bytes))
    })
  }

  /**
   * True when unallocated clusters read (or, once the header's backing file is attached, would read)
   * from a backing device: discards and zero writes must then leave ZERO clusters, not unallocated
   * ones, so the backing data does not show through.
   */
  get hasBacking(): boolean {
    return !this.lower.allZero || this.header.backingFile !== undefined
  }

  /** True when refcount updates need not be ordered (lazy refcounts on a writable image). */
  get lazy(): boolean {
    return this.header.lazyRefcounts && !this.readOnly
  }

  /** Writes the header (padded to whole sectors) and flushes. */
  async updateHeader(next: ParsedHeader): Promise<void> {
    const bytes = serializeHeader(next)
    if (bytes === undefined) return fail(corruptError('the header no longer fits in cluster 0'))
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 512) * 512)
    padded.set(bytes)
    await this.io.write(0, padded)
    await this.io.flush()
    this.header = next
  }

  /** Reports inconsistent metadata: sets the corrupt bit on a writable image, then aborts with `Corrupt`. */
  async corrupt(reason: string): Promise<never> {
    const first = !this.corruptFound
    this.corruptFound = true
    if (first && !this.readOnly && !this.header.corrupt) {
      try {
        await this.updateHeader(withIncompatibleBit(this.header, INCOMPAT_CORRUPT, true))
      } catch {
        // The request fails with Corrupt either way; a failed header write only loses the marker.
      }
    }
    return fail(corruptError(reason))
  }

  /** Runs `body` under the allocation lock, after marking a lazy-refcount image dirty on disk. */
  async withRefcounts<A>(body: () => Promise<A>): Promise<A> {
    return this.allocLock.run(async () => {
      if (this.lazy && !this.header.dirty) await this.updateHeader(withIncompatibleBit(this.header, INCOMPAT_DIRTY, true))
      return body()
    })
  }

  /**
   * Allocates `count` contiguous host clusters (refcount 1). Returns the first cluster index and whether
   * the clusters are known to read as zeroes on the base device (never written since it grew).
   */
  allocate(count: number): Allocated | Promise<Allocated> {
    if (!this.allocLock.held && !(this.lazy && !this.header.dirty)) {
      const zeroFrom = this.zeroFrom
      const first = this.refcounts.allocateCached(count)
      if (first !== undefined) {
        const allocated = { first, zero: first * this.g.clusterSize >= zeroFrom }
        const clash = checkAllocation(this, first, count)
        return clash === undefined ? allocated : clash.then(() => allocated)
      }
    }
    return this.withRefcounts(async () => {
      const zeroFrom = this.zeroFrom
      const first = await this.refcounts.allocate(count)
      await checkAllocation(this, first, count)
      return { first, zero: first * this.g.clusterSize >= zeroFrom }
    })
  }

  /** Writes dirty L2 tables after what they depend on: their data and (unless lazy) their refcounts. */
  async writebackL2(tables: CachedTable[]): Promise<void> {
    await this.writebackLock.run(async () => {
      const copies = tables.filter((t) => t.dirty).map((t) => ({ table: t, bytes: snapshotForWrite(t) }))
      if (copies.length === 0) return
      let restoreBlocks = (): void => undefined
      try {
        if (!this.lazy) restoreBlocks = await this.refcounts.writeDirtyBlocks()
        await this.io.flush()
        for (const c of copies) await this.io.write(c.table.offset, c.bytes)
      } catch (e) {
        markDirty(copies.map((c) => c.table))
        restoreBlocks()
        throw e
      } finally {
        for (const c of copies) writeEnded(c.table)
      }
    })
  }

  /** Clears every autoclear bit (this library maintains none of the structures they vouch for); used on read-write open. */
  async clearAutoclear(): Promise<void> {
    if (this.header.autoclearFeatures !== 0n) await this.updateHeader(withFeatures(this.header, this.header.incompatibleFeatures, 0n))
  }
}
