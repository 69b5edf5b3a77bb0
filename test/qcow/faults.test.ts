// I/O faults (issue 7 item 3): failed calls return Lefts and never throw, no corruption, flushed data survives.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockModule } from '../../src/block/device.js'
import type { BlockError } from '../../src/block/errors.js'
import { RamDisk, type RamDiskDevice } from '../../src/ramdisk/index.js'
import { faulty, type FaultyDevice, type FaultKind } from '../../src/testing/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import type { CreateOptions, QcowDevice } from '../../src/qcow/api.js'
import { describeError, type QcowError } from '../../src/qcow/errors.js'
import { verifyQcow } from '../support/qcow-verify.js'
import { describeSector, generateWorkload, issue, opBytes, type GuestOp } from '../support/workload.js'

const SOAK = Number(process.env.QCOW_SOAK ?? '0')
const WORKLOADS = SOAK > 0 ? SOAK * 2 : 9
const BATCHES = SOAK > 0 ? 80 : 40
const MiB = 1024 * 1024
const FAULT_KINDS: FaultKind[] = ['read', 'write', 'flush', 'resize', 'discard', 'writeZeroes']

/** The RamDisk under the faulty wrapper, kept so the test can read the image after faults are off. */
let lastRam: RamDiskDevice | undefined
let nextPlan: { seed: number; rate: number } = { seed: 0, rate: 0 }

const FaultyRamDisk: BlockModule<{ size: number }, FaultyDevice<BlockError>> = {
  name: 'Faulty(RamDisk)',
  connect: (config) =>
    TE.chain((ram: RamDiskDevice) => {
      lastRam = ram
      const device = faulty(ram, { random: { ...nextPlan, kinds: FAULT_KINDS }, enabled: false })
      return TE.fromEither(E.mapLeft(() => ({ _tag: 'Unsupported', operation: 'faulty plan' }) as BlockError)(device))
    })(RamDisk.connect(config)),
}
const FaultyQcow = makeQcow(FaultyRamDisk)
const RamQcow = makeQcow(RamDisk)

const configs: ReadonlyArray<{ readonly name: string; readonly create: CreateOptions }> = [
  { name: '4 KiB clusters', create: { size: 2 * MiB, clusterSize: 4096 } },
  { name: '512 B clusters, 1-bit refcounts', create: { size: MiB, clusterSize: 512, refcountBits: 1 } },
  { name: '64 KiB clusters, lazy refcounts', create: { size: 2 * MiB, clusterSize: 65536, lazyRefcounts: true } },
  { name: '4 KiB clusters, 64-bit refcounts, lazy refcounts', create: { size: 2 * MiB, clusterSize: 4096, refcountBits: 64, lazyRefcounts: true } },
  { name: 'version 2, 16 KiB clusters', create: { size: 2 * MiB, clusterSize: 16384, compat: '0.10' } },
]

/**
 * Per guest sector, the write ids (0 for zeroes) it may hold: `now` since the last successful write
 * to it (widened by failed writes), `durable` as `now` was at the last successful flush, and
 * `since` every id written, successfully or not, after that flush.
 */
class SectorModel {
  private readonly now: Array<Set<number>>
  private durable: Array<Set<number>>
  private since: Array<Set<number>>
  constructor(sectors: number) {
    this.now = Array.from({ length: sectors }, () => new Set([0]))
    this.durable = this.now.map((s) => new Set(s))
    this.since = Array.from({ length: sectors }, () => new Set<number>())
  }
  /** Records a request's outcome (the workloads of this suite never resize). */
  apply(op: GuestOp, ok: boolean): void {
    if (op.kind === 'flush') {
      if (ok) {
        this.durable = this.now.map((s) => new Set(s))
        this.since = this.since.map(() => new Set<number>())
      }
      return
    }
    if (op.kind === 'resize') return
    const id = op.kind === 'write' ? op.id : 0
    for (let s = op.sector; s < op.sector + op.sectors; s++) {
      if (ok) this.now[s] = new Set([id])
      else this.now[s].add(id)
      this.since[s].add(id)
    }
  }
  /** Ids a successful read may show now. */
  current(s: number): ReadonlySet<number> {
    return this.now[s]
  }
  /** Ids the sector may show after the image is reopened from the base device. */
  afterReopen(s: number): ReadonlySet<number> {
    return new Set([...this.durable[s], ...this.since[s]])
  }
}

/** Checks guest bytes starting at `first` against the ids each sector may hold; returns a problem or undefined. */
const checkSectors = (
  bytes: Uint8Array,
  first: number,
  allowed: (s: number) => ReadonlySet<number>,
  ops: ReadonlyMap<number, GuestOp & { kind: 'write' }>,
): string | undefined => {
  for (let i = 0; i < bytes.length / 512; i++) {
    const s = first + i
    const got = bytes.subarray(i * 512, (i + 1) * 512)
    const ids = allowed(s)
    const ok = [...ids].some((id) => {
      if (id === 0) return got.every((b) => b === 0)
      const op = ops.get(id)
      if (op === undefined || s < op.sector || s >= op.sector + op.sectors) return false
      const want = opBytes(op)!.subarray((s - op.sector) * 512, (s - op.sector + 1) * 512)
      return got.every((b, j) => b === want[j])
    })
    if (!ok) return `guest sector ${s} holds ${describeSector(got)}, allowed ids ${[...ids].join(',')}`
  }
  return undefined
}

/** The part of the engine's `repair()` report this suite reads (the maintenance issue adds repair). */
interface RepairCounts {
  readonly corruptions: number
  readonly leaks: number
  readonly leaksFixed: number
  readonly problems: ReadonlyArray<string>
}

interface FaultTotals {
  workloads: number
  calls: number
  failedCalls: number
  injected: number
  leaksFixed: number
}
const totals: FaultTotals = { workloads: 0, calls: 0, failedCalls: 0, injected: 0, leaksFixed: 0 }

const runFaultWorkload = async (create: CreateOptions, seed: number, rate: number): Promise<void> => {
  nextPlan = { seed, rate }
  const where = `seed ${seed}, rate ${rate}`
  const base = await FaultyRamDisk.connect({ size: 0 })()
  if (E.isLeft(base)) throw new Error(`connect: ${describeError(base.left)}`)
  const ram = lastRam!
  const created = await FaultyQcow.create(base.right, create)()
  if (E.isLeft(created)) throw new Error(`create: ${describeError(created.left)}`)
  const qcow: QcowDevice = created.right
  if (E.isLeft(await qcow.flush()())) throw new Error('first flush failed without faults')
  const info = await qcow.getInfo()()
  if (E.isLeft(info)) throw new Error(`getInfo: ${describeError(info.left)}`)
  const sizeSectors = info.right.sizeSectors
  const workload = generateWorkload({
    sizeSectors,
    clusterSectors: (create.clusterSize ?? 65536) / 512,
    batches: BATCHES,
    seed,
    discard: typeof qcow.discard === 'function',
    writeZeroes: typeof qcow.writeZeroes === 'function',
    resize: false,
  })
  const model = new SectorModel(sizeSectors)
  const writes = new Map<number, GuestOp & { kind: 'write' }>()
  base.right.setEnabled(true)
  for (const [b, batch] of workload.entries()) {
    const results = await Promise.all(
      batch.map(async (op) => {
        if (op.kind === 'write') writes.set(op.id, op)
        try {
          return await issue(qcow, op)
        } catch (thrown) {
          return expect.fail(`${where}: ${op.kind} threw instead of returning a Left: ${String(thrown)}`)
        }
      }),
    )
    batch.forEach((op, i) => model.apply(op, E.isRight(results[i])))
    totals.calls += batch.length
    totals.failedCalls += results.filter(E.isLeft).length
    if (b % 4 === 3) {
      const sector = (b * 104729) % (sizeSectors - 16)
      const buffer = new Uint8Array(16 * 512)
      let read: E.Either<unknown, void>
      try {
        read = await qcow.read(sector, [buffer])()
      } catch (thrown) {
        return expect.fail(`${where}: read threw instead of returning a Left: ${String(thrown)}`)
      }
      totals.calls++
      if (E.isRight(read)) {
        const problem = checkSectors(buffer, sector, (s) => model.current(s), writes)
        if (problem !== undefined) expect.fail(`${where}: a successful read under faults: ${problem}`)
      } else totals.failedCalls++
    }
  }
  base.right.setEnabled(false)
  totals.injected += base.right.stats().totalInjected
  totals.workloads++

  const baseInfo = await ram.getInfo()()
  if (E.isLeft(baseInfo)) throw new Error('base getInfo')
  const bytes = new Uint8Array(baseInfo.right.sizeSectors * 512)
  await ram.read(0, [bytes])()
  const first = verifyQcow(bytes)
  const raw = first.dirty ? verifyQcow(bytes, { skipRefcounts: true }) : first
  expect(raw.corruptions, `${where}: image after faults`).toEqual([])
  expect(raw.corruptBit, `${where}: corrupt bit`).toBe(false)
  const copy = await RamDisk.connect({ size: bytes.length })()
  if (E.isLeft(copy)) throw new Error('RamDisk')
  await copy.right.write(0, [bytes])()
  const reopened = await RamQcow.connect(copy.right)()
  if (E.isLeft(reopened)) return expect.fail(`${where}: reopen after faults failed: ${describeError(reopened.left)}`)
  const guest = new Uint8Array(sizeSectors * 512)
  const read = await reopened.right.read(0, [guest])()
  if (E.isLeft(read)) return expect.fail(`${where}: reading after reopen failed: ${describeError(read.left)}`)
  const problem = checkSectors(guest, 0, (s) => model.afterReopen(s), writes)
  if (problem !== undefined) expect.fail(`${where}: after faults off and reopen: ${problem}`)
  const repair = (reopened.right as { repair?: (options: { leaks: boolean }) => TE.TaskEither<QcowError, RepairCounts> }).repair
  if (typeof repair === 'function') {
    const repaired = await repair.call(reopened.right, { leaks: true })()
    if (E.isLeft(repaired)) return expect.fail(`${where}: repair failed: ${describeError(repaired.left)}`)
    expect(repaired.right.corruptions, `${where}: corruptions after repair: ${repaired.right.problems.join('; ')}`).toBe(0)
    expect(repaired.right.leaks, `${where}: leaks left after repair`).toBe(0)
    totals.leaksFixed += repaired.right.leaksFixed
  }
  const flushed = await reopened.right.flush()()
  expect(E.isRight(flushed), `${where}: flush after reopen`).toBe(true)
  const afterBytes = new Uint8Array((await copy.right.getInfo()().then((i) => (E.isRight(i) ? i.right.sizeSectors : 0))) * 512)
  await copy.right.read(0, [afterBytes])()
  const after = verifyQcow(afterBytes)
  expect(after.corruptions, `${where}: after repair and flush`).toEqual([])
  if (typeof repair === 'function') expect(after.leaks, `${where}: leaks after repair and flush`).toBe(0)
  await reopened.right.disconnect()()
}

describe('I/O faults under makeQcow(faulty(RamDisk))', () => {
  for (const [configIndex, config] of configs.entries()) {
    it(`failed calls return Lefts, the image stays consistent and flushed data survives (${config.name})`, async () => {
      for (let w = 0; w < WORKLOADS; w++) {
        const rate = [0.02, 0.1, 0.3][w % 3]
        await runFaultWorkload(config.create, 5000 + configIndex * 1000 + w, rate)
      }
    }, SOAK > 0 ? 3_600_000 : 120_000)
  }

  it('injected faults and saw failed calls', () => {
    console.log(`fault test: ${totals.workloads} workloads, ${totals.calls} guest calls, ${totals.failedCalls} failed, ${totals.injected} faults injected, ${totals.leaksFixed} leaked clusters reclaimed by repair`)
    expect(totals.workloads).toBe(configs.length * WORKLOADS)
    expect(totals.injected).toBeGreaterThan(totals.workloads)
    expect(totals.failedCalls).toBeGreaterThan(0)
  })
})
