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
}

/** Writes dirty tables back, honouring whatever must reach the disk before them. */
export type Writeback = (tables: CachedTable[]) => Promise<void>

/** Loads a table's bytes from the base device. */
export type Loader = (offset: number, into: Uint8Array) => Promise<void>

/**
 * Holds at most `capacity` unpinned tables (pinned ones may exceed it briefly). Evicting a dirty
 * table first writes it back through the owner's `writeback`, which orders it after its dependencies.
 */
export class TableCache {
  private readonly entries = new Map<number, CachedTable>()
  private readonly loading = new Map<number, Promise<CachedTable>>()
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
      this.entries.delete(offset)
      this.entries.set(offset, hit)
      hit.pins++
      return hit
    }
    return this.loadPinned(offset)
  }

  /** The cached table at `offset` when present (not pinned, recency unchanged). */
  peek(offset: number): CachedTable | undefined {
    return this.entries.get(offset)
  }

  private async loadPinned(offset: number): Promise<CachedTable> {
    let pending = this.loading.get(offset)
    if (pending === undefined) {
      pending = this.loadNew(offset)
      this.loading.set(offset, pending)
      pending.then(
        () => this.loading.delete(offset),
        () => this.loading.delete(offset),
      )
    }
    const table = await pending
    const current = this.entries.get(offset) ?? table
    current.pins++
    return current
  }

  private async loadNew(offset: number): Promise<CachedTable> {
    await this.makeRoom()
    const bytes = new Uint8Array(this.tableBytes)
    await this.load(offset, bytes)
    const existing = this.entries.get(offset)
    if (existing !== undefined) return existing
    const table: CachedTable = { offset, bytes, view: new DataView(bytes.buffer), dirty: false, pins: 0, writing: 0 }
    this.entries.set(offset, table)
    return table
  }

  /** Installs a table for a freshly allocated cluster (contents `bytes`, or zeroes), pinned and dirty. */
  async create(offset: number, bytes?: Uint8Array): Promise<CachedTable> {
    await this.makeRoom()
    const own = bytes ?? new Uint8Array(this.tableBytes)
    const table: CachedTable = { offset, bytes: own, view: new DataView(own.buffer, own.byteOffset, own.byteLength), dirty: true, pins: 1, writing: 0 }
    this.entries.delete(offset)
    this.entries.set(offset, table)
    return table
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
    return out
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

  /** Evicts least recently used unpinned tables until there is room for one more. */
  private async makeRoom(): Promise<void> {
    while (this.entries.size >= this.capacity) {
      let victim: CachedTable | undefined
      for (const t of this.entries.values()) {
        if (t.pins === 0 && t.writing === 0) {
          victim = t
          break
        }
      }
      if (victim === undefined) return
      if (victim.dirty) {
        await this.writeback([victim])
        continue
      }
      this.entries.delete(victim.offset)
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
