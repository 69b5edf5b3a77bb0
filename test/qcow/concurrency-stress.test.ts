// Concurrency stress: 64 concurrent random reads and writes on overlapping ranges of a small-cluster image,
// checked against a model that accepts any per-sector serial order consistent with real time; check() is
// clean afterwards.
import { describe, expect, it } from 'vitest'
import { seededRandom, type RandomSource } from '../../src/testing/prng.js'
import { Qcow, ramDisk, run } from './support/harness.js'

const SECTOR = 512
/** Id of "reads as zeroes" (never written); real writes are numbered from 1. */
const ZERO = 0

/** The content of sector `sector` as written by write `id`: the id and sector, then bytes derived from both. */
const sectorContent = (id: number, sector: number, out: Uint8Array): void => {
  const view = new DataView(out.buffer, out.byteOffset, SECTOR)
  view.setUint32(0, id)
  view.setUint32(4, sector)
  let x = (id * 2654435761 + sector * 40503 + 1) >>> 0
  for (let i = 8; i < SECTOR; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    view.setUint32(i, x >>> 0)
  }
}

/** Which write a sector read back came from (ZERO for zeroes), or -1 when it is torn or foreign. */
const identify = (sector: number, bytes: Uint8Array): number => {
  if (bytes.every((b) => b === 0)) return ZERO
  const view = new DataView(bytes.buffer, bytes.byteOffset, SECTOR)
  const id = view.getUint32(0)
  if (view.getUint32(4) !== sector || id === ZERO) return -1
  const expected = new Uint8Array(SECTOR)
  sectorContent(id, sector, expected)
  return Buffer.from(expected).equals(Buffer.from(bytes.buffer, bytes.byteOffset, SECTOR)) ? id : -1
}

const writeBuffer = (id: number, sector: number, sectors: number): Uint8Array => {
  const out = new Uint8Array(sectors * SECTOR)
  for (let i = 0; i < sectors; i++) sectorContent(id, sector + i, out.subarray(i * SECTOR, (i + 1) * SECTOR))
  return out
}

/** A write as the model sees it: its id, sectors and logical start/end times. */
interface WriteEvent {
  readonly id: number
  readonly sector: number
  readonly sectors: number
  readonly start: number
  end: number
}

interface ReadEvent {
  readonly sector: number
  readonly seen: ReadonlyArray<number>
  readonly start: number
  readonly end: number
}

/**
 * Checks one sector: the value seen by a read is from a write (or the initial content) that started before
 * the read ended and was not overwritten by a write that started after it ended and ended before the read
 * started. Returns a message on violation.
 */
const explainRead = (sector: number, seen: number, read: { start: number; end: number }, writes: ReadonlyArray<WriteEvent>): string | undefined => {
  if (seen === -1) return `sector ${sector}: torn or foreign content`
  const source = writes.find((w) => w.id === seen)
  if (source === undefined) return `sector ${sector}: content of write ${seen}, which never touched it`
  if (source.start > read.end) return `sector ${sector}: content of write ${seen}, which started after the read ended`
  const later = writes.find((w) => w.id !== source.id && w.start > source.end && w.end < read.start)
  return later === undefined
    ? undefined
    : `sector ${sector}: stale content of write ${seen}, overwritten by write ${later.id} (sectors ${later.sector}+${later.sectors}, time ${later.start}..${later.end}) before the read (time ${read.start}..${read.end})`
}

interface StressConfig {
  readonly seed: number
  readonly clusterSize: number
  readonly sizeSectors: number
  readonly maxSectors: number
  readonly tinyCaches: boolean
}

const stress = async (config: StressConfig): Promise<void> => {
  const random: RandomSource = seededRandom(config.seed)
  const int = (below: number): number => Math.floor(random() * below)
  const base = await ramDisk(8 * 1024 * 1024)
  const created = await run(Qcow.create(base, { size: config.sizeSectors * SECTOR, clusterSize: config.clusterSize }))
  // Per-sector history: the initial write (every other run of clusters) or ZERO, then every write to it.
  const history: WriteEvent[][] = Array.from({ length: config.sizeSectors }, () => [{ id: ZERO, sector: 0, sectors: 0, start: -1, end: -1 }])
  let nextId = 1
  const perCluster = config.clusterSize / SECTOR
  for (let c = 0; c < config.sizeSectors / perCluster; c++) {
    if (int(3) !== 0) continue
    const id = nextId++
    const sector = c * perCluster
    await run(created.write(sector, [writeBuffer(id, sector, perCluster)]))
    for (let i = 0; i < perCluster; i++) history[sector + i] = [{ id, sector, sectors: perCluster, start: -1, end: -1 }]
  }
  await run(created.disconnect())
  const device = await run(Qcow.connect(base, config.tinyCaches ? { l2CacheBytes: config.clusterSize, refcountCacheBytes: config.clusterSize } : {}))
  let clock = 0
  const reads: ReadEvent[] = []
  const failures: string[] = []
  const worker = async (): Promise<void> => {
    for (let op = 0; op < 30; op++) {
      // Ranges cluster around a few hot spots so they overlap, and straddle cluster boundaries.
      const hot = int(4) * Math.floor(config.sizeSectors / 4)
      const sectors = 1 + int(config.maxSectors)
      const sector = Math.min(config.sizeSectors - sectors, hot + int(perCluster * 6) - perCluster)
      const start = Math.max(0, sector)
      if (random() < 0.5) {
        const id = nextId++
        const event: WriteEvent = { id, sector: start, sectors, start: clock++, end: Infinity }
        for (let i = 0; i < sectors; i++) history[start + i].push(event)
        const r = await device.write(start, [writeBuffer(id, start, sectors)])()
        event.end = clock++
        if (r._tag === 'Left') failures.push(`write ${id} failed: ${JSON.stringify(r.left)}`)
      } else {
        const out = new Uint8Array(sectors * SECTOR)
        const begin = clock++
        const r = await device.read(start, [out])()
        const end = clock++
        if (r._tag === 'Left') failures.push(`read failed: ${JSON.stringify(r.left)}`)
        const seen = Array.from({ length: sectors }, (_, i) => identify(start + i, out.subarray(i * SECTOR, (i + 1) * SECTOR)))
        reads.push({ sector: start, seen, start: begin, end })
      }
    }
  }
  await Promise.all(Array.from({ length: 64 }, worker))
  expect(failures).toEqual([])
  const violations: string[] = []
  for (const read of reads) {
    read.seen.forEach((seen, i) => {
      const problem = explainRead(read.sector + i, seen, read, history[read.sector + i])
      if (problem !== undefined) violations.push(problem)
    })
  }
  // Final content: some write to the sector that no later-started write definitively superseded.
  const final = new Uint8Array(config.sizeSectors * SECTOR)
  await run(device.read(0, [final]))
  for (let s = 0; s < config.sizeSectors; s++) {
    const problem = explainRead(s, identify(s, final.subarray(s * SECTOR, (s + 1) * SECTOR)), { start: clock, end: clock }, history[s])
    if (problem !== undefined) violations.push(`final ${problem}`)
  }
  expect({ count: violations.length, final: violations.filter((v) => v.startsWith("final")).length, first: violations.slice(0, 10) }).toEqual({ count: 0, final: 0, first: [] })
  const report = await run(device.check())
  expect({ corruptions: report.corruptions, leaks: report.leaks, problems: report.problems }).toEqual({ corruptions: 0, leaks: 0, problems: [] })
  await run(device.disconnect())
  const reopened = await run(Qcow.connect(base, { readOnly: true }))
  const again = new Uint8Array(final.length)
  await run(reopened.read(0, [again]))
  expect(Buffer.from(again).equals(Buffer.from(final))).toBe(true)
}

describe('64 concurrent reads and writes on overlapping ranges', () => {
  const configs: StressConfig[] = [
    { seed: 1, clusterSize: 512, sizeSectors: 2048, maxSectors: 24, tinyCaches: false },
    { seed: 2, clusterSize: 1024, sizeSectors: 1024, maxSectors: 16, tinyCaches: true },
    { seed: 3, clusterSize: 4096, sizeSectors: 4096, maxSectors: 40, tinyCaches: false },
    { seed: 4, clusterSize: 512, sizeSectors: 512, maxSectors: 8, tinyCaches: true },
    { seed: 5, clusterSize: 2048, sizeSectors: 16384, maxSectors: 64, tinyCaches: true },
    ...[6, 7, 8, 9, 10, 11].map((seed) => ({ seed, clusterSize: 1024 << (seed % 3), sizeSectors: 16384, maxSectors: 48, tinyCaches: true })),
  ]
  it.each(configs)('seed $seed, $clusterSize-byte clusters, tiny caches $tinyCaches', (config) => stress(config), 30_000)
})
