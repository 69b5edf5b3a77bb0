// Us -> QEMU: images created and written by makeQcow(RamDisk) pass qemu-img check, compare and info.
import { expect, it } from 'vitest'
import { makeQcow } from '../../src/qcow/index.js'
import type { CreateOptions } from '../../src/qcow/api.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { seededRandom } from '../../src/testing/prng.js'
import { expectBytes, firstDifference } from '../support/bytes.js'
import { check, compare, describeWithQemu, fileFromDevice, info, qcow2Specific, ramDiskFromFile, useTempDir, writeBytes, type CheckResult } from '../support/qemu.js'
import { readBytes, retainingDisconnect, run, scatter } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB

/** One image of the matrix: create options, a sequential fill from byte 0, then random writes. */
interface UsCase {
  readonly name: string
  readonly options: CreateOptions & { readonly size: number }
  /** Bytes written sequentially from offset 0 first (to make the image big enough cheaply). */
  readonly fill: number
  readonly writes: number
  /** The data written needs more refcount-table clusters than a fresh image has. */
  readonly growsRefcountTable?: boolean
  /** Random writes go in batches of concurrent, disjoint writes sharing a few clusters ('narrow') or anywhere ('wide', large). */
  readonly concurrent?: 'narrow' | 'wide'
  /** Halfway through, disconnect and reconnect with one-cluster L2 and refcount caches. */
  readonly tinyCachesHalfway?: boolean
}

const cases: ReadonlyArray<UsCase> = [
  { name: '512 B clusters, refcount 64, refcount table growth', options: { size: 8 * MiB, clusterSize: 512, refcountBits: 64 }, fill: 3 * MiB, writes: 80, growsRefcountTable: true },
  { name: '512 B clusters, refcount 16, refcount table growth', options: { size: 12 * MiB, clusterSize: 512, refcountBits: 16 }, fill: 9 * MiB, writes: 60, growsRefcountTable: true },
  { name: '512 B clusters, refcount 32, refcount table growth', options: { size: 8 * MiB, clusterSize: 512, refcountBits: 32 }, fill: 5 * MiB, writes: 40, growsRefcountTable: true },
  { name: '512 B clusters, refcount 1', options: { size: 4 * MiB, clusterSize: 512, refcountBits: 1 }, fill: 0, writes: 150 },
  { name: '512 B clusters, refcount 2', options: { size: 2 * MiB, clusterSize: 512, refcountBits: 2 }, fill: 0, writes: 60 },
  { name: '512 B clusters, refcount 4', options: { size: 2 * MiB, clusterSize: 512, refcountBits: 4 }, fill: 0, writes: 60 },
  { name: '512 B clusters, refcount 8', options: { size: 2 * MiB, clusterSize: 512, refcountBits: 8 }, fill: 0, writes: 60 },
  { name: '512 B clusters, compat 0.10', options: { size: 4 * MiB, clusterSize: 512, compat: '0.10' }, fill: 0, writes: 100 },
  { name: '4 KiB clusters, refcount 1', options: { size: 16 * MiB, clusterSize: 4 * KiB, refcountBits: 1 }, fill: 0, writes: 80 },
  { name: '4 KiB clusters, refcount 64, lazy refcounts', options: { size: 16 * MiB, clusterSize: 4 * KiB, refcountBits: 64, lazyRefcounts: true }, fill: 0, writes: 80 },
  { name: '4 KiB clusters, compat 0.10', options: { size: 16 * MiB, clusterSize: 4 * KiB, compat: '0.10' }, fill: 0, writes: 80 },
  { name: '64 KiB clusters, all defaults', options: { size: 64 * MiB }, fill: 0, writes: 40 },
  { name: '64 KiB clusters, refcount 64, lazy refcounts', options: { size: 32 * MiB, clusterSize: 64 * KiB, refcountBits: 64, lazyRefcounts: true }, fill: 0, writes: 40 },
  { name: '64 KiB clusters, refcount 1, compat 1.1', options: { size: 32 * MiB, clusterSize: 64 * KiB, refcountBits: 1, compat: '1.1' }, fill: 0, writes: 40 },
  { name: '64 KiB clusters, compat 0.10', options: { size: 32 * MiB, clusterSize: 64 * KiB, compat: '0.10' }, fill: 0, writes: 40 },
  { name: '2 MiB clusters, refcount 16', options: { size: 32 * MiB, clusterSize: 2 * MiB }, fill: 0, writes: 5 },
  { name: '2 MiB clusters, compat 0.10', options: { size: 16 * MiB, clusterSize: 2 * MiB, compat: '0.10' }, fill: 0, writes: 4 },
  { name: 'size not a multiple of the cluster size (4 KiB clusters)', options: { size: 3 * MiB + 512, clusterSize: 4 * KiB }, fill: 0, writes: 60 },
  { name: 'size not a multiple of the cluster size (2 MiB clusters, refcount 64)', options: { size: 5 * MiB + 1024, clusterSize: 2 * MiB, refcountBits: 64 }, fill: 0, writes: 4 },
  { name: 'an empty (0-byte) disk', options: { size: 0, clusterSize: 4 * KiB }, fill: 0, writes: 0 },
  { name: 'concurrent writes into shared unallocated clusters (4 KiB)', options: { size: 8 * MiB, clusterSize: 4 * KiB }, fill: 0, writes: 400, concurrent: 'narrow' },
  { name: 'concurrent writes, 512 B clusters, refcount 64', options: { size: 4 * MiB, clusterSize: 512, refcountBits: 64 }, fill: 0, writes: 400, concurrent: 'narrow' },
  {
    name: 'wide concurrent writes while the refcount table grows (512 B clusters, refcount 64)',
    options: { size: 8 * MiB, clusterSize: 512, refcountBits: 64 },
    fill: 0,
    writes: 120,
    concurrent: 'wide',
    growsRefcountTable: true,
  },
  { name: 'one-cluster caches after reconnect (512 B clusters, refcount 2)', options: { size: 4 * MiB, clusterSize: 512, refcountBits: 2 }, fill: 0, writes: 200, tinyCachesHalfway: true },
  { name: 'one-cluster caches after reconnect (4 KiB clusters, lazy refcounts)', options: { size: 8 * MiB, clusterSize: 4 * KiB, lazyRefcounts: true }, fill: 0, writes: 120, tinyCachesHalfway: true },
]

/** `bytes` bytes of data derived from `seed`, never all zero. */
const data = (bytes: number, seed: number): Uint8Array => {
  const out = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) out[i] = ((seed + i * 7 + (i >> 9) * 13) % 255) + 1
  return out
}

/** A write of `sectors` sectors at `sector`: random, every third one straddling a cluster boundary. */
const randomWrite = (random: () => number, sizeSectors: number, clusterSectors: number, index: number): { sector: number; sectors: number } => {
  const sectors = 1 + Math.floor(random() * Math.min(3 * clusterSectors, 2048, sizeSectors))
  if (index % 3 === 0 && sizeSectors > 2 * clusterSectors) {
    const boundary = clusterSectors * (1 + Math.floor(random() * (sizeSectors / clusterSectors - 1)))
    const sector = Math.max(0, boundary - 1 - Math.floor(random() * Math.min(sectors, boundary)))
    return { sector, sectors: Math.min(sectors, sizeSectors - sector) }
  }
  return { sector: Math.floor(random() * (sizeSectors - sectors + 1)), sectors }
}

/**
 * Up to 8 disjoint writes: 'narrow' ones of at most half a cluster each, all inside the same 3
 * clusters; 'wide' ones of up to 64 KiB anywhere on the disk.
 */
const concurrentBatch = (random: () => number, sizeSectors: number, clusterSectors: number, kind: 'narrow' | 'wide'): { sector: number; sectors: number }[] => {
  if (kind === 'wide') {
    const batch: { sector: number; sectors: number }[] = []
    for (let i = 0; i < 8; i++) {
      const sectors = 32 + Math.floor(random() * 96)
      const sector = Math.floor(random() * (sizeSectors - sectors + 1))
      if (!batch.some((w) => sector < w.sector + w.sectors && w.sector < sector + sectors)) batch.push({ sector, sectors })
    }
    return batch
  }
  const windowSectors = Math.min(sizeSectors, 3 * clusterSectors)
  const start = clusterSectors * Math.floor(random() * ((sizeSectors - windowSectors) / clusterSectors + 1))
  const batch: { sector: number; sectors: number }[] = []
  for (let i = 0; i < 8; i++) {
    const sectors = 1 + Math.floor(random() * Math.max(1, clusterSectors / 2))
    const sector = start + Math.floor(random() * (windowSectors - sectors + 1))
    if (!batch.some((w) => sector < w.sector + w.sectors && w.sector < sector + sectors)) batch.push({ sector, sectors })
  }
  return batch
}

/** Asserts every 512-byte sector of `got` equals the same sector of `before` or of `after`. */
const expectEachSectorFrom = (got: Uint8Array, before: Uint8Array, after: Uint8Array, firstSector: number): void => {
  for (let at = 0; at < got.byteLength; at += 512) {
    const sector = got.subarray(at, at + 512)
    const same = (other: Uint8Array): boolean => firstDifference(sector, other.subarray(at, at + 512)) < 0
    if (!same(before) && !same(after)) throw new Error(`racing read: sector ${firstSector + at / 512} is neither the old nor the new data`)
  }
}

/** Fails with QEMU's own words unless the check found no corruption, no leak and no error. */
const expectClean = (result: CheckResult, what: string): void => {
  const report = result.report
  const summary = `${what}: exit ${result.code}, ${JSON.stringify(report)} ${result.stderr.trim()}`
  expect(result.code, summary).toBe(0)
  expect(report?.['check-errors'] ?? -1, summary).toBe(0)
  expect(report?.corruptions ?? 0, summary).toBe(0)
  expect(report?.leaks ?? 0, summary).toBe(0)
}

const Qcow = makeQcow(RamDisk)

describeWithQemu('us -> QEMU: images written by makeQcow(RamDisk) checked by qemu-img', () => {
  const tmp = useTempDir('qcow-ts-u2q-')

  cases.forEach((c, index) => {
    it(c.name, async () => {
      const random = seededRandom(0x51ed27 + index)
      const size = c.options.size
      const clusterSize = c.options.clusterSize ?? 64 * KiB
      const clusterSectors = clusterSize / 512
      const sizeSectors = size / 512
      const model = new Uint8Array(size)
      const ram = await run(RamDisk.connect({ size: 0 }), 'RamDisk.connect')
      const base = retainingDisconnect(ram)
      let device = await run(Qcow.create(base, c.options), 'create')
      const fresh = await run(device.header(), 'header')

      let seed = 1
      const write = async (sector: number, sectors: number): Promise<void> => {
        const bytes = data(sectors * 512, seed++)
        await run(device.write(sector, scatter(bytes, random)), `write of ${sectors} sectors at sector ${sector}`)
        model.set(bytes, sector * 512)
      }
      const fillChunk = 256 * KiB
      for (let at = 0; at < c.fill; at += fillChunk) await write(at / 512, Math.min(fillChunk, c.fill - at) / 512)
      for (let i = 0; i < c.writes; ) {
        if (c.tinyCachesHalfway === true && i === Math.floor(c.writes / 2)) {
          await run(device.disconnect(), 'disconnect halfway')
          device = await run(Qcow.connect(base, { l2CacheBytes: clusterSize, refcountCacheBytes: clusterSize }), 'reconnect with tiny caches')
        }
        if (c.concurrent !== undefined) {
          const batch = concurrentBatch(random, sizeSectors, clusterSectors, c.concurrent)
          // Reads race the writes over the same clusters: each sector must read as before or after.
          const raced = c.concurrent === 'narrow' ? batch : batch.slice(0, 1)
          const low = Math.min(...raced.map((w) => w.sector))
          const high = Math.max(...raced.map((w) => w.sector + w.sectors))
          const before = model.slice(low * 512, high * 512)
          const reads = [0, 1, 2, 3].map(() => new Uint8Array((high - low) * 512))
          // Staggered starts (now, after some microtasks, after a macrotask) to land inside the writes.
          const startAfter = async (turns: number): Promise<void> => {
            for (let t = 0; t < turns; t++) await Promise.resolve()
          }
          await Promise.all([
            ...batch.map((w) => write(w.sector, w.sectors)),
            ...reads.map(async (r, k) => {
              if (k === 3) await new Promise((resolve) => setImmediate(resolve))
              else await startAfter(k * 3)
              await run(device.read(low, scatter(r, random)), 'racing read')
            }),
          ])
          const after = model.subarray(low * 512, high * 512)
          for (const r of reads) expectEachSectorFrom(r, before, after, low)
          i += batch.length
        } else {
          const w = randomWrite(random, sizeSectors, clusterSectors, i)
          await write(w.sector, w.sectors)
          i += 1
        }
        if (i % 25 === 24) await run(device.flush(), 'flush')
      }
      // The last sectors of the disk, across its last cluster boundary when there is one.
      if (sizeSectors >= 6) await write(sizeSectors - 6, 6)
      await run(device.flush(), 'flush')
      if (c.growsRefcountTable === true) {
        const grown = await run(device.header(), 'header')
        expect(grown.refcountTableClusters).toBeGreaterThan(fresh.refcountTableClusters)
      }

      const modelRaw = tmp.file(`case-${index}.raw`)
      await writeBytes(modelRaw, model)

      // After flush, still connected (as after a crash): the contents must already be there, and the
      // metadata consistent unless the image is marked dirty, which only lazy refcounts allow; a dirty
      // image must then be repairable by QEMU without losing data.
      const flushed = tmp.file(`case-${index}-flushed.qcow2`)
      await fileFromDevice(ram, flushed)
      const flushedCompare = await compare(flushed, modelRaw, { formatB: 'raw' })
      expect(flushedCompare.code, flushedCompare.stdout + flushedCompare.stderr).toBe(0)
      const dirty = (await info(flushed))['dirty-flag'] === true
      if (c.options.lazyRefcounts !== true) expect(dirty).toBe(false)
      if (dirty) await check(flushed, { repair: 'all' })
      expectClean(await check(flushed), dirty ? 'qemu-img check after flush and QEMU repair' : 'qemu-img check after flush')
      const repairedCompare = await compare(flushed, modelRaw, { formatB: 'raw' })
      expect(repairedCompare.code, repairedCompare.stdout + repairedCompare.stderr).toBe(0)

      // After disconnect: clean, equal, and described alike by qemu-img info.
      await run(device.disconnect(), 'disconnect')
      const closed = tmp.file(`case-${index}.qcow2`)
      await fileFromDevice(ram, closed)
      expectClean(await check(closed), 'qemu-img check after disconnect')
      const closedCompare = await compare(closed, modelRaw, { formatB: 'raw' })
      expect(closedCompare.code, closedCompare.stdout + closedCompare.stderr).toBe(0)
      const qemuInfo = await info(closed)
      const specific = qcow2Specific(qemuInfo)
      expect(qemuInfo['virtual-size']).toBe(size)
      expect(qemuInfo['cluster-size']).toBe(clusterSize)
      expect(qemuInfo['dirty-flag']).toBe(false)
      expect(specific.compat).toBe(c.options.compat ?? '1.1')
      expect(specific['refcount-bits']).toBe(c.options.refcountBits ?? 16)
      expect(specific['lazy-refcounts'] ?? false).toBe(c.options.lazyRefcounts ?? false)
      if (specific.compat === '1.1') expect(specific.corrupt).toBe(false)

      // And we read back what we wrote from the closed image.
      const reopened = await run(Qcow.connect(await ramDiskFromFile(closed), { readOnly: true }), 'reopen')
      expectBytes(await readBytes(reopened, size), model, 'reopened image vs model')
      await run(reopened.disconnect(), 'disconnect reopened')
    })
  })
})
