// Refcount access and allocation: the in-memory refcount table, refcount blocks through the cache, block creation and table growth.
import { CachedTable, TableCache, markDirty, writeSnapshot } from '../cache/table-cache.js'
import { REFTABLE_RESERVED_LO, setReftableEntry } from '../format/entries.js'
import type { Geometry } from '../format/geometry.js'
import { getRefcount, setRefcount } from '../format/refcount-block.js'
import type { BaseIo } from '../io/base-io.js'
import { ChangeLog } from '../map/change-log.js'

/** What the refcount layer needs from the image around it. */
export interface RefcountHooks {
  /** Points the header at a new refcount table (written and flushed before it returns). */
  switchTable(offset: number, clusters: number): Promise<void>
  /** Records that clusters `[start, end)` now hold data written by the engine. */
  noteAllocated(start: number, end: number): void
  /** Reports inconsistent metadata: marks the image corrupt and aborts with `Corrupt`. */
  corrupt(reason: string): Promise<never>
  /** Called when a cluster's refcount drops to 0, so caches forget tables stored there. */
  freed(cluster: number): void
}

/** The refcount structures of one image. Mutating calls must run under the image's allocation lock. */
export class Refcounts {
  /** Next cluster index the allocator tries first. */
  nextFree = 0
  /** Refcount table entries that changed which block they point at (the whole table when it is replaced). */
  readonly changes = new ChangeLog()
  private table: Uint8Array
  private tableView: DataView
  private readonly reserved: Array<[number, number]> = []

  constructor(
    private readonly io: BaseIo,
    private readonly g: Geometry,
    readonly cache: TableCache,
    public tableOffset: number,
    public tableClusters: number,
    table: Uint8Array,
    private readonly hooks: RefcountHooks,
  ) {
    this.table = table
    this.tableView = new DataView(table.buffer, table.byteOffset, table.byteLength)
  }

  /** Number of refcount table entries. */
  get tableEntries(): number {
    return this.table.byteLength / 8
  }

  /** The offset of refcount block `index`, 0 when it is not allocated; corrupt entries abort. */
  blockOffset(index: number): number | Promise<never> {
    const found = this.entryTarget(index)
    return typeof found === 'number' ? found : this.hooks.corrupt(found)
  }

  /** The offset of refcount block `index` (0 when it is not allocated), or why its entry is invalid. */
  private entryTarget(index: number): number | string {
    if (index >= this.tableEntries) return 0
    const hi = this.tableView.getUint32(index * 8)
    const lo = this.tableView.getUint32(index * 8 + 4)
    if (hi === 0 && lo === 0) return 0
    if ((lo & REFTABLE_RESERVED_LO) !== 0) return `refcount table entry ${index} is not cluster aligned`
    if (hi > 0x1fffff) return `refcount table entry ${index} points past 2^53`
    const offset = hi * 0x100000000 + lo
    if (offset % this.g.clusterSize !== 0) return `refcount block offset ${offset} is not cluster aligned`
    if (offset >= this.io.sizeBytes) return `refcount block ${index} at ${offset} lies past the end of the device`
    return offset
  }

  /** The refcount of host cluster `cluster`. */
  async get(cluster: number): Promise<number> {
    const per = this.g.refcountsPerBlock
    const index = Math.floor(cluster / per)
    const offset = await this.blockOffset(index)
    if (offset === 0) return 0
    const block = await this.cache.acquire(offset)
    try {
      return getRefcount(block.bytes, block.view, this.g.refcountOrder, cluster - index * per)
    } finally {
      this.cache.release(block)
    }
  }

  /** One past the last host cluster whose refcount is not 0 (0 when none is): check's image end, in clusters. */
  async usedEnd(): Promise<number> {
    const per = this.g.refcountsPerBlock
    for (let index = this.tableEntries - 1; index >= 0; index--) {
      const offset = await this.blockOffset(index)
      if (offset === 0) continue
      const block = await this.cache.acquire(offset)
      try {
        for (let i = per - 1; i >= 0; i--) if (getRefcount(block.bytes, block.view, this.g.refcountOrder, i) !== 0) return index * per + i + 1
      } finally {
        this.cache.release(block)
      }
    }
    return 0
  }

  /** Adds `delta` to the refcounts of clusters `[first, first + count)`, creating refcount blocks as needed. */
  async update(first: number, count: number, delta: number): Promise<void> {
    const per = this.g.refcountsPerBlock
    const order = this.g.refcountOrder
    let cluster = first
    const end = first + count
    while (cluster < end) {
      const index = Math.floor(cluster / per)
      const stop = Math.min(end, (index + 1) * per)
      const block = await this.blockFor(index, delta > 0)
      if (block === undefined) return this.hooks.corrupt(`cannot decrease the refcount of cluster ${cluster}: it has no refcount block`)
      try {
        for (let c = cluster; c < stop; c++) {
          const i = c - index * per
          const value = getRefcount(block.bytes, block.view, order, i) + delta
          if (value < 0) return this.hooks.corrupt(`refcount of cluster ${c} would drop below 0`)
          if (value > this.g.maxRefcount) return this.hooks.corrupt(`refcount of cluster ${c} would exceed the ${this.g.refcountBits}-bit maximum`)
          setRefcount(block.bytes, block.view, order, i, value)
          if (value === 0) {
            if (c < this.nextFree) this.nextFree = c
            this.hooks.freed(c)
          }
        }
        this.cache.markDirty(block)
      } finally {
        this.cache.release(block)
      }
      cluster = stop
    }
  }

  /** Finds `count` contiguous free clusters, sets their refcounts to 1 and returns the first. */
  async allocate(count: number): Promise<number> {
    const first = await this.findFree(count)
    this.reserved.push([first, first + count])
    try {
      this.nextFree = first + count
      await this.update(first, count, 1)
    } finally {
      this.reserved.pop()
    }
    this.hooks.noteAllocated(first, first + count)
    return first
  }

  /**
   * `allocate` without a pause, when it needs no new refcount block and every block it reads is
   * cached; otherwise (or on a bad refcount table entry, which `allocate` then reports) undefined.
   * Call it only while nobody holds the allocation lock.
   */
  allocateCached(count: number): number | undefined {
    const per = this.g.refcountsPerBlock
    const order = this.g.refcountOrder
    let start = this.nextFree
    let cluster = start
    let block: CachedTable | undefined
    let blockIndex = -1
    while (cluster - start < count) {
      const index = Math.floor(cluster / per)
      if (index !== blockIndex) {
        block = this.cachedBlock(index)
        if (block === undefined) return undefined
        blockIndex = index
      }
      if (getRefcount((block as CachedTable).bytes, (block as CachedTable).view, order, cluster - index * per) !== 0) start = cluster + 1
      cluster++
    }
    for (let c = start; c < start + count; c++) {
      const index = Math.floor(c / per)
      if (index !== blockIndex) {
        block = this.cachedBlock(index) as CachedTable
        blockIndex = index
      }
      setRefcount((block as CachedTable).bytes, (block as CachedTable).view, order, c - index * per, 1)
      this.cache.markDirty(block as CachedTable)
    }
    this.nextFree = start + count
    this.hooks.noteAllocated(start, start + count)
    return start
  }

  /** Refcount block `index` when it exists and is cached (marked as just used), else undefined. */
  private cachedBlock(index: number): CachedTable | undefined {
    const offset = this.entryTarget(index)
    if (typeof offset !== 'number' || offset === 0 || this.cache.peek(offset) === undefined) return undefined
    const block = this.cache.acquire(offset) as CachedTable
    this.cache.release(block)
    return block
  }

  /** Installs a freshly written refcount table (after a rebuild) and forgets cached blocks. */
  replaceTable(offset: number, clusters: number, table: Uint8Array): void {
    this.table = table
    this.tableView = new DataView(table.buffer, table.byteOffset, table.byteLength)
    this.tableOffset = offset
    this.tableClusters = clusters
    this.changes.noteAll()
    this.cache.clear()
    this.nextFree = 0
  }

  /** Makes the allocator continue at cluster `cluster`. */
  setNextFree(cluster: number): void {
    this.nextFree = cluster
  }

  private reservedEnd(cluster: number): number | undefined {
    for (const [s, e] of this.reserved) if (cluster >= s && cluster < e) return e
    return undefined
  }

  /** The first run of `count` clusters at or after the hint whose refcounts are 0 and that no caller reserved. */
  private async findFree(count: number): Promise<number> {
    const per = this.g.refcountsPerBlock
    let start = this.nextFree
    let cluster = start
    while (cluster - start < count) {
      const skip = this.reservedEnd(cluster)
      if (skip !== undefined) {
        start = cluster = skip
        continue
      }
      const index = Math.floor(cluster / per)
      const offset = await this.blockOffset(index)
      if (offset === 0) {
        cluster = Math.min(start + count, (index + 1) * per)
        const inside = this.reserved.find(([s, e]) => s < cluster && e > start)
        if (inside !== undefined) start = cluster = inside[1]
        continue
      }
      const block = await this.cache.acquire(offset)
      try {
        const stop = Math.min((index + 1) * per, start + count)
        for (; cluster < stop; cluster++) {
          if (getRefcount(block.bytes, block.view, this.g.refcountOrder, cluster - index * per) !== 0 || this.reservedEnd(cluster) !== undefined) {
            start = cluster + 1
          }
        }
      } finally {
        this.cache.release(block)
      }
    }
    return start
  }

  /** The refcount block `index`, pinned; creates it when `create` and it is missing. */
  private async blockFor(index: number, create: boolean): Promise<CachedTable | undefined> {
    const offset = await this.blockOffset(index)
    if (offset !== 0) return this.cache.acquire(offset)
    if (!create) return undefined
    if (index >= this.tableEntries) await this.growTable(index)
    const grown = await this.blockOffset(index)
    if (grown !== 0) return this.cache.acquire(grown)
    return this.createBlock(index)
  }

  /** Allocates and links a new refcount block for `index`, ordered so no reference precedes its refcount. */
  private async createBlock(index: number): Promise<CachedTable> {
    const per = this.g.refcountsPerBlock
    const cluster = await this.findFree(1)
    this.reserved.push([cluster, cluster + 1])
    let block: CachedTable
    try {
      if (Math.floor(cluster / per) === index) {
        block = await this.cache.create(cluster * this.g.clusterSize)
        setRefcount(block.bytes, block.view, this.g.refcountOrder, cluster - index * per, 1)
      } else {
        await this.update(cluster, 1, 1)
        block = await this.cache.create(cluster * this.g.clusterSize)
      }
    } finally {
      this.reserved.pop()
    }
    if (cluster >= this.nextFree) this.nextFree = cluster + 1
    this.hooks.noteAllocated(cluster, cluster + 1)
    try {
      const restore = await this.writeDirtyBlocks()
      try {
        await this.io.flush()
      } catch (e) {
        restore()
        throw e
      }
      setReftableEntry(this.tableView, index, cluster * this.g.clusterSize)
      this.changes.note(index)
      await this.writeTableEntry(index)
    } catch (e) {
      // The block never became reachable on disk: forget it, so memory agrees with the disk.
      setReftableEntry(this.tableView, index, 0)
      this.changes.note(index)
      this.cache.release(block)
      this.cache.drop(block.offset)
      throw e
    }
    return block
  }

  /** Writes the 512-byte sector of the refcount table holding entry `index`. */
  private async writeTableEntry(index: number): Promise<void> {
    const at = Math.floor((index * 8) / 512) * 512
    await this.io.write(this.tableOffset + at, this.table.slice(at, at + 512))
  }

  /** Writes every dirty refcount block (no barrier). */
  async writeDirtyBlocks(): Promise<() => void> {
    const written: CachedTable[] = []
    try {
      for (const block of this.cache.dirtyTables()) {
        written.push(block)
        await writeSnapshot(block, (bytes) => this.io.write(block.offset, bytes))
      }
    } catch (e) {
      markDirty(written)
      throw e
    }
    // Callers whose barrier after these writes fails mark the blocks dirty again with this.
    return () => markDirty(written)
  }

  /**
   * Grows the refcount table so that it has an entry `index`. The new table and the refcount blocks
   * covering it are placed past every cluster the current table can describe, describe themselves,
   * and are written before the header switches to them; the old table is freed after.
   */
  private async growTable(index: number): Promise<void> {
    const g = this.g
    const per = g.refcountsPerBlock
    let start = this.tableEntries * per
    for (const [, e] of this.reserved) start = Math.max(start, e)
    let blocks = 1
    let tableClusters = this.tableClusters
    for (;;) {
      const end = start + blocks + tableClusters
      const neededBlocks = Math.floor((end - 1) / per) - Math.floor(start / per) + 1
      const entries = Math.max(index + 1, Math.floor((end - 1) / per) + 1, Math.ceil(this.tableEntries * 1.5))
      const neededTable = Math.ceil(entries / g.reftableEntriesPerCluster)
      if (neededBlocks <= blocks && neededTable <= tableClusters) break
      blocks = Math.max(blocks, neededBlocks)
      tableClusters = Math.max(tableClusters, neededTable)
    }
    const end = start + blocks + tableClusters
    const table = new Uint8Array(tableClusters * g.clusterSize)
    table.set(this.table)
    const tableView = new DataView(table.buffer)
    const firstIndex = Math.floor(start / per)
    const newBlocks: CachedTable[] = []
    for (let b = 0; b < blocks; b++) {
      const blockIndex = firstIndex + b
      const offset = (start + b) * g.clusterSize
      setReftableEntry(tableView, blockIndex, offset)
      const block = await this.cache.create(offset)
      const from = Math.max(start, blockIndex * per)
      const to = Math.min(end, (blockIndex + 1) * per)
      for (let c = from; c < to; c++) setRefcount(block.bytes, block.view, g.refcountOrder, c - blockIndex * per, 1)
      newBlocks.push(block)
    }
    try {
      this.hooks.noteAllocated(start, end)
      for (const block of newBlocks) await writeSnapshot(block, (bytes) => this.io.write(block.offset, bytes))
      const tableOffset = (start + blocks) * g.clusterSize
      await this.io.write(tableOffset, table)
      await this.writeDirtyBlocks()
      await this.io.flush()
      await this.hooks.switchTable(tableOffset, tableClusters)
      const oldFirst = this.tableOffset / g.clusterSize
      const oldClusters = this.tableClusters
      this.table = table
      this.tableView = tableView
      this.tableOffset = tableOffset
      this.tableClusters = tableClusters
      this.changes.noteAll()
      if (this.nextFree < end && this.nextFree >= start) this.nextFree = end
      await this.update(oldFirst, oldClusters, -1)
    } finally {
      for (const block of newBlocks) this.cache.release(block)
    }
  }
}
