// A bounded LRU cache of cluster-sized metadata tables (L2 tables or refcount blocks) with dirty tracking and pinning.

/** One cached table. `pins` > 0 keeps it from eviction while an operation uses it. */
export interface CachedTable {
  /** Host offset of the table. */
  readonly offset: number
  readonly bytes: Uint8Array
  readonly view: DataView
  dirty: boolean
  pins: number
  /**
   * Copies taken by `snapshotForWrite` whose write has not ended yet: the table is clean but the disk
   * may still hold older bytes, so it must not be evicted (a reload would read them).
   */
  writing: number
  /** When the table was last used, by the cache's clock (for LRU eviction). */
  used: number
}

/** Writes dirty tables back, honouring whatever must reach the disk before them. */
export type Writeback = (tables: CachedTable[]) => Promise<void>

/** Loads a table's bytes from the base device. */
export type Loader = (offset: number, into: Uint8Array) => Promise<void>

/** A table being loaded, and how many callers wait for it (it arrives pinned once for each). */
interface Loading {
  readonly table: Promise<CachedTable>
  readonly waiters: { count: number }
}

/** Evicted buffers kept for reuse at most (they are all cluster-sized). */
const SPARE_LIMIT = 8

/**
 * Holds at most `capacity` unpinned tables (pinned ones may exceed it briefly). Evicting a dirty
 * table first writes it back through the owner's `writeback`, which orders it after its dependencies.
 * The buffer of an evicted table is reused for the next load: a table is evicted only while nobody
 * holds it (no pin, no write of it in flight), and a loaded table arrives already pinned for every
 * caller that waited for it, so a buffer in use is never handed out again.
 */
export class TableCache {
  private readonly entries = new Map<number, CachedTable>()
  private readonly loading = new Map<number, Loading>()
  /** Bumped on every use; a table's `used` is the clock at its last use (cheaper than reordering the map). */
  private clock = 0
  private readonly spare: Uint8Array[] = []
  private writeback: Writeback = async () => undefined

  constructor(
    private readonly tableBytes: number,
    readonly capacity: number,
    private readonly load: Loader,
  ) {}

  /** Installs the owner's writeback (set once, after construction, to break the construction cycle). */
  setWriteback(writeback: Writeback): void {
    this.writeback = writeback
  }

  /** The cached table at `offset`, pinned, loading it when absent. Release it with `release`. */
  acquire(offset: number): Promise<CachedTable> | CachedTable {
    const hit = this.entries.get(offset)
    if (hit !== undefined) {
      hit.used = ++this.clock
      hit.pins++
      return hit
    }
    const pending = this.loading.get(offset)
    if (pending !== undefined) {
      pending.waiters.count++
      return pending.table
    }
    const waiters = { count: 1 }
    const table = this.loadNew(offset, waiters)
    this.loading.set(offset, { table, waiters })
    return table
  }

  /** The cached table at `offset` when present (not pinned, recency unchanged). */
  peek(offset: number): CachedTable | undefined {
    return this.entries.get(offset)
  }

  /** Number of tables held now (pinned ones included). */
  get size(): number {
    return this.entries.size
  }

  private async loadNew(offset: number, waiters: { count: number }): Promise<CachedTable> {
    try {
      await this.makeRoom()
      const bytes = this.spare.pop() ?? new Uint8Array(this.tableBytes)
      try {
        await this.load(offset, bytes)
      } catch (e) {
        this.spare.push(bytes)
        throw e
      }
      const existing = this.entries.get(offset)
      if (existing !== undefined) {
        this.spare.push(bytes)
        existing.pins += waiters.count
        existing.used = ++this.clock
        return existing
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      const table: CachedTable = { offset, bytes, view, dirty: false, pins: waiters.count, writing: 0, used: 0 }
      this.install(table)
      return table
    } finally {
      this.loading.delete(offset)
    }
  }

  /** Installs a table for a freshly allocated cluster (contents `bytes`, or zeroes), pinned and dirty. */
  async create(offset: number, bytes?: Uint8Array): Promise<CachedTable> {
    await this.makeRoom()
    const own = bytes ?? this.spare.pop()?.fill(0) ?? new Uint8Array(this.tableBytes)
    const view = new DataView(own.buffer, own.byteOffset, own.byteLength)
    const table: CachedTable = { offset, bytes: own, view, dirty: true, pins: 1, writing: 0, used: 0 }
    this.entries.delete(offset)
    this.install(table)
    return table
  }

  private install(table: CachedTable): void {
    this.entries.set(table.offset, table)
    table.used = ++this.clock
  }

  /** Unpins a table obtained from `acquire` or `create`. */
  release(table: CachedTable): void {
    table.pins--
  }

  /** Marks a table modified. */
  markDirty(table: CachedTable): void {
    table.dirty = true
  }

  /** Forgets the table at `offset` without writing it (its cluster was freed). */
  drop(offset: number): void {
    this.entries.delete(offset)
  }

  /** Every dirty table, in LRU order. */
  dirtyTables(): CachedTable[] {
    const out: CachedTable[] = []
    for (const t of this.entries.values()) if (t.dirty) out.push(t)
    return out.sort((a, b) => a.used - b.used)
  }

  /** True when some table is dirty. */
  hasDirty(): boolean {
    for (const t of this.entries.values()) if (t.dirty) return true
    return false
  }

  /** Forgets every table (after a flush, or when the structure was rebuilt). */
  clear(): void {
    this.entries.clear()
  }

  /** The least recently used table nobody holds, if any. */
  private victim(): CachedTable | undefined {
    let victim: CachedTable | undefined
    let oldest = Infinity
    for (const t of this.entries.values()) {
      if (t.pins !== 0 || t.writing !== 0) continue
      if (t.used < oldest) {
        oldest = t.used
        victim = t
      }
    }
    return victim
  }

  /** Evicts least recently used unpinned tables until there is room for one more, keeping their buffers for reuse. */
  private async makeRoom(): Promise<void> {
    while (this.entries.size >= this.capacity) {
      const victim = this.victim()
      if (victim === undefined) return
      if (victim.dirty) {
        await this.writeback([victim])
        continue
      }
      this.entries.delete(victim.offset)
      if (this.spare.length < SPARE_LIMIT && victim.bytes.byteLength === this.tableBytes) this.spare.push(victim.bytes)
    }
  }
}

/**
 * Copies a dirty table's bytes and marks it clean, for a write that must not see later changes. The
 * table then stays cached until `writeEnded` is called for this copy, whether the write succeeded or not.
 */
export const snapshotForWrite = (table: CachedTable): Uint8Array => {
  table.dirty = false
  table.writing++
  return table.bytes.slice()
}

/** Ends the write of a copy taken by `snapshotForWrite`: the table may be evicted again. */
export const writeEnded = (table: CachedTable): void => {
  table.writing--
}

/** Writes a copy of `table` with `write`, keeping the table cached until the write has ended. */
export const writeSnapshot = async (table: CachedTable, write: (bytes: Uint8Array) => Promise<void>): Promise<void> => {
  const bytes = snapshotForWrite(table)
  try {
    await write(bytes)
  } finally {
    writeEnded(table)
  }
}

/** Marks tables dirty again after their write or the barrier after it failed, so a later flush retries them. */
export const markDirty = (tables: ReadonlyArray<CachedTable>): void => {
  for (const t of tables) t.dirty = true
}
