// Regression (found by the concurrency stress test): a table whose write-back copy is still on its way to
// the disk must not be evicted, or a concurrent load reads its old bytes and the cache serves stale entries.
import { expect, it } from 'vitest'
import { TableCache, snapshotForWrite, writeEnded } from '../../src/qcow/cache/table-cache.js'

it('a table being written back stays cached until its write ends', async () => {
  const disk = new Map<number, Uint8Array>([[0, new Uint8Array(8)], [8, new Uint8Array(8)], [16, new Uint8Array(8)]])
  const cache = new TableCache(8, 1, async (offset, into) => into.set(disk.get(offset) as Uint8Array))
  let letWrite!: () => void
  const gate = new Promise<void>((resolve) => (letWrite = resolve))
  // Like the image's write-back: copy and mark clean first, then wait for a barrier, then write.
  cache.setWriteback(async (tables) => {
    for (const t of tables) {
      const bytes = snapshotForWrite(t)
      await gate
      disk.set(t.offset, bytes)
      writeEnded(t)
    }
  })
  const table = await cache.create(0)
  table.bytes[0] = 42
  cache.release(table)
  // Loading table 8 evicts table 0, whose write-back now waits at the gate with table 0 clean.
  const first = cache.acquire(8)
  await new Promise((resolve) => setTimeout(resolve, 0))
  // A second load must not drop table 0 while its bytes are not on the disk yet.
  const second = cache.acquire(16)
  await new Promise((resolve) => setTimeout(resolve, 0))
  const again = await cache.acquire(0)
  expect(again.bytes[0]).toBe(42)
  cache.release(again)
  letWrite()
  await Promise.all([first, second])
  expect(disk.get(0)?.[0]).toBe(42)
})
