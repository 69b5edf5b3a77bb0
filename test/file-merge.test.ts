// FileBlock merging adjacent queued requests into one call: random concurrent requests against a model, and a merged call that fails.
import { fc, test } from '@fast-check/vitest'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { FileBlock, type FileBlockDevice } from '../src/file/index.js'
import { SYNC_MAX_BYTES } from '../src/file/io.js'
import { left, pattern, right, sameBytes, tempDir } from './helpers.js'
import { issueAgainstModel, type ModelRequest } from './support/model-requests.js'

/**
 * A bad byte range of the file (set by each test), the most bytes one call moves (0: no limit; the
 * system may move fewer than asked) and every thread-pool call the device made.
 */
const disk = vi.hoisted(() => ({
  bad: { start: 0, end: 0 },
  short: 0,
  calls: [] as { readonly position: number; readonly bytes: number; readonly failed: boolean }[],
}))

/** The first `limit` bytes of a buffer list. */
const truncated = (buffers: NodeJS.ArrayBufferView[], limit: number): NodeJS.ArrayBufferView[] => {
  const out: NodeJS.ArrayBufferView[] = []
  let left = limit
  for (const b of buffers) {
    if (left === 0) break
    const view = new Uint8Array(b.buffer, b.byteOffset, Math.min(b.byteLength, left))
    out.push(view)
    left -= view.byteLength
  }
  return out
}

// The thread-pool reads and writes fail with EIO when they touch the bad range, move at most
// `disk.short` bytes when it is set, and are recorded.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  type Call = (fd: number, buffers: NodeJS.ArrayBufferView[], position: number, callback: (error: Error | null, bytes: number) => void) => void
  const guarded =
    (syscall: string, run: Call): Call =>
    (fd, buffers, position, callback) => {
      let bytes = 0
      for (const b of buffers) bytes += b.byteLength
      const failed = position < disk.bad.end && disk.bad.start < position + bytes
      disk.calls.push({ position, bytes, failed })
      if (!failed) return run(fd, disk.short > 0 ? truncated(buffers, disk.short) : buffers, position, callback)
      const error = Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: 'EIO', syscall })
      setImmediate(() => callback(error, 0))
    }
  return { ...real, readv: guarded('read', real.readv), writev: guarded('write', real.writev) }
})

const SECTOR = 512
/** Each request: one sector past the synchronous limit, so every one goes to the thread pool. */
const REQUEST_BYTES = SYNC_MAX_BYTES + SECTOR
const REQUESTS = 24
const BAD = 13

/** The property's device: 48 slots of one pool-sized request each. */
const SLOT_SECTORS = REQUEST_BYTES / SECTOR
const SLOTS = 48
const DEVICE_SECTORS = SLOTS * SLOT_SECTORS
/** How one request of a stream is drawn (see streamArb). */
const requestArb = fc.record({
  place: fc.oneof(
    { weight: 6, arbitrary: fc.constant<'after' | 'before' | number>('after') },
    { weight: 2, arbitrary: fc.constant<'after' | 'before' | number>('before') },
    { weight: 1, arbitrary: fc.nat(SLOTS - 1) },
  ),
  slots: fc.integer({ min: 1, max: 3 }),
  shift: fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: -2, max: 2 }) },
    { weight: 1, arbitrary: fc.integer({ min: -8, max: 8 }) },
  ),
  trim: fc.oneof(
    { weight: 12, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 2 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: SLOT_SECTORS - 1 }) },
  ),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 2 }),
  write: fc.oneof({ weight: 3, arbitrary: fc.constant('same') }, { weight: 1, arbitrary: fc.boolean() }),
  seed: fc.nat(255),
})

/**
 * Lays the drawn requests out as streams: each mostly starts where the previous one ends (or ends
 * where it starts) and keeps its kind (so requests issued together are adjacent and merge), sometimes jumps, switches
 * between reading and writing, is shifted or shortened by a sector or two (overlapping its
 * neighbours or leaving a gap) or is small enough to run synchronously; its bytes are split into up
 * to three buffers.
 */
const streamArb = fc.array(requestArb, { minLength: 1, maxLength: 48, size: 'max' }).map((drawn) => {
  let start = 0
  let end = 0
  let write = true
  return drawn.map((r): ModelRequest => {
    const slot = r.place === 'after' ? end : r.place === 'before' ? start - r.slots : r.place
    start = ((slot % SLOTS) + SLOTS) % SLOTS
    end = start + r.slots
    if (r.write !== 'same') write = r.write
    const sector = Math.min(Math.max(start * SLOT_SECTORS + r.shift, 0), DEVICE_SECTORS - 1)
    const sectors = Math.max(1, Math.min(r.slots * SLOT_SECTORS - r.trim, DEVICE_SECTORS - sector))
    const cuts = r.cuts.map((c) => Math.floor(c * sectors) * SECTOR).sort((a, b) => a - b)
    return { sector, sectors, cuts, write, seed: r.seed }
  })
})

/**
 * Runs `body` on a FileBlock over a new file holding `content`, with the mock reset (no bad range,
 * calls moving at most `short` bytes, no calls recorded); the file is removed afterwards.
 */
const onFile = async (content: Uint8Array, short: number, body: (device: FileBlockDevice, path: string) => Promise<void>): Promise<void> => {
  const dir = await tempDir()
  try {
    const path = join(dir.path, 'merge.img')
    await writeFile(path, content)
    disk.bad = { start: 0, end: 0 }
    disk.short = short
    disk.calls = []
    await body(right(await FileBlock.connect({ path })()), path)
  } finally {
    await dir.remove()
  }
}

/** The file's bytes once `device` is disconnected. */
const contentAfter = async (device: FileBlockDevice, path: string): Promise<Uint8Array> => {
  right(await device.disconnect()())
  return new Uint8Array(await readFile(path))
}

describe('FileBlock merging queued requests', () => {
  test.prop([streamArb, fc.constantFrom(0, 0, 3000, 70000)], { numRuns: 40 })(
    'random concurrent reads and writes, adjacent or overlapping, behave as one at a time in issue order (also when calls move fewer bytes than asked)',
    async (requests, short) => {
      const model = pattern(DEVICE_SECTORS * SECTOR, 7)
      await onFile(model.slice(), short, async (device, path) => {
        await issueAgainstModel(device, model, requests)
        expect(sameBytes(await contentAfter(device, path), model)).toBe(true)
      })
    },
  )

  it('a request of more buffers than one call takes (IOV_MAX, 1024) moves them all, alone or merged', async () => {
    const count = 1500
    await onFile(new Uint8Array(2 * count * SECTOR), 0, async (device, path) => {
      const data = [pattern(count * SECTOR, 3), pattern(count * SECTOR, 4)]
      const pieces = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: count }, (_, i) => bytes.subarray(i * SECTOR, (i + 1) * SECTOR))
      for (const result of await Promise.all(data.map((bytes, i) => device.write(i * count, pieces(bytes))()))) right(result)
      const back = [new Uint8Array(count * SECTOR), new Uint8Array(count * SECTOR)]
      for (const result of await Promise.all(back.map((bytes, i) => device.read(i * count, pieces(bytes))()))) right(result)
      back.forEach((bytes, i) => expect(sameBytes(bytes, data[i])).toBe(true))
      expect(sameBytes(await contentAfter(device, path), new Uint8Array([...data[0], ...data[1]]))).toBe(true)
    })
  })

  it('requests issued together on adjacent ranges are merged into fewer calls', async () => {
    await onFile(new Uint8Array(REQUESTS * REQUEST_BYTES), 0, async (device, path) => {
      const data = Array.from({ length: REQUESTS }, (_, i) => pattern(REQUEST_BYTES, i))
      for (const result of await Promise.all(data.map((bytes, i) => device.write((i * REQUEST_BYTES) / SECTOR, [bytes])()))) right(result)
      expect(disk.calls.length).toBeLessThan(REQUESTS)
      expect(disk.calls.reduce((sum, c) => sum + c.bytes, 0)).toBe(REQUESTS * REQUEST_BYTES)
      const after = await contentAfter(device, path)
      data.forEach((bytes, i) => expect(sameBytes(after.subarray(i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES), bytes)).toBe(true))
    })
  })

  it.each([['writes'], ['reads']])('adjacent %s issued together: the one over the bad range fails with Io EIO, its neighbours succeed', async (kind) => {
    const before = pattern(REQUESTS * REQUEST_BYTES, 1)
    await onFile(before, 0, async (device, path) => {
      disk.bad = { start: BAD * REQUEST_BYTES + 4096, end: BAD * REQUEST_BYTES + 4097 }
      const data = Array.from({ length: REQUESTS }, (_, i) => (kind === 'writes' ? pattern(REQUEST_BYTES, 100 + i) : new Uint8Array(REQUEST_BYTES)))
      const sector = (i: number): number => (i * REQUEST_BYTES) / SECTOR
      const results = await Promise.all(
        data.map((bytes, i) => (kind === 'writes' ? device.write(sector(i), [bytes]) : device.read(sector(i), [bytes.subarray(0, 4096), bytes.subarray(4096)]))()),
      )
      results.forEach((result, i) => {
        if (i !== BAD) return right(result)
        expect(left(result)).toMatchObject({ _tag: 'Io', kind: 'Failure', code: 'EIO', path })
      })
      // Some call merged several requests and failed over the bad range; the bad request alone failed again.
      expect(disk.calls.some((c) => c.failed && c.bytes > REQUEST_BYTES)).toBe(true)
      expect(disk.calls.filter((c) => c.failed && c.bytes === REQUEST_BYTES && c.position === BAD * REQUEST_BYTES)).toHaveLength(1)
      const after = await contentAfter(device, path)
      for (let i = 0; i < REQUESTS; i++) {
        const stored = after.subarray(i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES)
        const original = before.subarray(i * REQUEST_BYTES, (i + 1) * REQUEST_BYTES)
        if (kind === 'writes') expect(sameBytes(stored, i === BAD ? original : data[i])).toBe(true)
        else if (i !== BAD) expect(sameBytes(data[i], original)).toBe(true)
      }
    })
  })
})
