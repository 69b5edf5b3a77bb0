// TableCache reuses evicted buffers: under random interleavings of concurrent loads, hits, creations,
// modifications, write-backs and evictions, no caller ever sees its table's bytes change under it, and
// every load sees what was last written to that table.
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { TableCache, snapshotForWrite, writeEnded, type CachedTable } from '../../src/qcow/cache/table-cache.js'

const BYTES = 32
const TABLES = 6
/** Byte 0 of every table names its offset; byte 1 + k holds the stamp of the last write to slot k. */
const SLOTS = BYTES - 1

interface Op {
  readonly table: number
  /** Write a stamp into this slot while holding the table, or only read. */
  readonly slot: number | null
  /** Ticks to hold the table (each a scheduled await). */
  readonly hold: number
  /** Use `create` on a fresh offset (a newly allocated table) instead of `acquire`. */
  readonly create: boolean
}

const op = fc.record({
  table: fc.integer({ min: 0, max: TABLES - 1 }),
  slot: fc.option(fc.integer({ min: 0, max: SLOTS - 1 }), { nil: null }),
  hold: fc.integer({ min: 0, max: 3 }),
  create: fc.boolean(),
})

it('an evicted buffer is never handed out while a caller still uses it', async () => {
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), fc.array(op, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 4 }), async (s, ops, capacity) => {
      const disk = new Map<number, Uint8Array>()
      const image = (offset: number): Uint8Array => {
        const fresh = new Uint8Array(BYTES)
        fresh[0] = offset / BYTES + 1
        return disk.get(offset) ?? fresh
      }
      const cache = new TableCache(BYTES, capacity, async (offset, into) => {
        await s.schedule(Promise.resolve(), `load ${offset}`)
        into.set(image(offset))
      })
      cache.setWriteback(async (tables) => {
        for (const t of tables) {
          const copy = snapshotForWrite(t)
          try {
            await s.schedule(Promise.resolve(), `write ${t.offset}`)
            disk.set(t.offset, copy)
          } finally {
            writeEnded(t)
          }
        }
      })
      // What every slot of every table must hold: the stamp of the last released write (creation clears it).
      const model = new Map<number, Uint8Array>()
      const expected = (offset: number): Uint8Array => model.get(offset) ?? image(offset)
      const failures: string[] = []
      let stamp = 0
      const run = async (o: Op, index: number): Promise<void> => {
        // A created table stands for a freshly allocated cluster: an offset of its own, used by nobody else.
        const offset = (o.create ? TABLES + index : o.table) * BYTES
        const id = offset / BYTES + 1
        let table: CachedTable
        if (o.create) {
          table = await cache.create(offset)
          if (table.bytes.some((b) => b !== 0)) failures.push(`op ${index}: created table is not zeroed`)
          table.bytes[0] = id
          model.set(offset, table.bytes.slice())
        } else {
          table = await cache.acquire(offset)
          if (table.bytes.join() !== expected(offset).join()) failures.push(`op ${index}: table ${id - 1} loaded ${table.bytes.join()}`)
        }
        const mine = table.bytes.slice()
        if (o.slot !== null) {
          mine[1 + o.slot] = table.bytes[1 + o.slot] = ++stamp % 256
          cache.markDirty(table)
          const next = expected(offset).slice()
          next[1 + o.slot] = mine[1 + o.slot]
          model.set(offset, next)
        }
        for (let t = 0; t < o.hold; t++) {
          await s.schedule(Promise.resolve(), `hold ${index}`)
          // Other holders of the same table may stamp other slots; nobody may change byte 0 or this slot.
          if (table.bytes[0] !== id) failures.push(`op ${index}: table ${id - 1} now names table ${table.bytes[0] - 1}`)
          if (o.slot !== null && table.bytes[1 + o.slot] !== mine[1 + o.slot] && table.bytes[1 + o.slot] !== expected(offset)[1 + o.slot]) {
            failures.push(`op ${index}: slot ${o.slot} of table ${id - 1} changed under its holder`)
          }
        }
        cache.release(table)
      }
      const all = ops.map((o, i) => s.schedule(Promise.resolve(), `start ${i}`).then(() => run(o, i)))
      await s.waitFor(Promise.all(all))
      expect(failures).toEqual([])
      expect(cache.size).toBeLessThanOrEqual(Math.max(capacity, ops.length))
    }),
    { numRuns: 300 },
  )
})

it('a table loaded for several waiting callers arrives pinned for each, so an eviction cannot take it between them', async () => {
  const loads: Array<() => void> = []
  const cache = new TableCache(8, 1, (offset, into) => new Promise<void>((resolve) => loads.push(() => (into.fill(offset + 1), resolve()))))
  const tick = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 0))
  const a = cache.acquire(0)
  const b = cache.acquire(0)
  expect(cache.acquire(0) instanceof Promise).toBe(true)
  await tick()
  loads.shift()?.()
  const [ta, tb] = await Promise.all([a, b])
  expect(ta).toBe(tb)
  expect(ta.pins).toBe(3)
  // Another table cannot evict it while pinned; once released it is the victim and its buffer is reused.
  const other = cache.acquire(8)
  await tick()
  loads.shift()?.()
  const to = await other
  expect(to.bytes).not.toBe(ta.bytes)
  expect(ta.bytes[0]).toBe(1)
  for (let i = 0; i < 3; i++) cache.release(ta)
  cache.release(to)
  const third = cache.acquire(16)
  await tick()
  loads.shift()?.()
  const tt = await third
  expect([ta.bytes, to.bytes]).toContain(tt.bytes)
  expect(tt.bytes[0]).toBe(17)
})
