// Crash safety: qcow images cut at every point of random workloads open, verify clean and keep every flushed byte.
import { describe, expect, it } from 'vitest'
import type { ConnectOptions, CreateOptions } from '../../src/qcow/api.js'
import { check, describeWithQemu, useTempDir, writeBytes } from '../support/qemu.js'
import { checkCrashImage, checkRecoveryCrashes, recordWorkload, STRATEGIES } from '../support/crash-harness.js'

/** `npm run soak` sets QCOW_SOAK to the number of workloads per configuration. */
const SOAK = Number(process.env.QCOW_SOAK ?? '0')
const WORKLOADS = SOAK > 0 ? SOAK : 2
const BATCHES = SOAK > 0 ? 60 : 25
/** In the short run each cut point gets one strategy (rotating); the soak gives each cut every strategy. */
const STRATEGIES_PER_CUT = SOAK > 0 ? STRATEGIES.length : 1
const QEMU_SAMPLES_PER_CONFIG = SOAK > 0 ? 40 : 4
/** One crash state in this many (dirty ones first) is also crashed again at every point of its recovery. */
const RECOVERY_EVERY = SOAK > 0 ? 4 : 40

const MiB = 1024 * 1024
const configs: ReadonlyArray<{ readonly name: string; readonly create: CreateOptions; readonly connect?: ConnectOptions }> = [
  { name: '4 KiB clusters', create: { size: 2 * MiB, clusterSize: 4096 } },
  { name: '512 B clusters, 1-bit refcounts', create: { size: MiB, clusterSize: 512, refcountBits: 1 } },
  { name: '64 KiB clusters, lazy refcounts', create: { size: 2 * MiB, clusterSize: 65536, lazyRefcounts: true } },
  { name: '4 KiB clusters, 64-bit refcounts, lazy refcounts', create: { size: 2 * MiB, clusterSize: 4096, refcountBits: 64, lazyRefcounts: true } },
  { name: 'version 2, 16 KiB clusters', create: { size: 2 * MiB, clusterSize: 16384, compat: '0.10' } },
  { name: '512 B clusters, tiny caches (evictions)', create: { size: MiB, clusterSize: 512 }, connect: { l2CacheBytes: 1024, refcountCacheBytes: 2048 } },
]

interface Totals {
  workloads: number
  cutPoints: number
  states: number
  dirty: number
  leaky: number
  recoveryStates: number
  /** Guest requests run, by kind. */
  requests: Record<string, number>
}

const totals: Totals = { workloads: 0, cutPoints: 0, states: 0, dirty: 0, leaky: 0, recoveryStates: 0, requests: {} }
/** The optional operations the qcow device offers (each then must occur in the workloads). */
const offered: string[] = []
/** Crash images kept for qemu-img check: raw when clean, repaired when they were dirty. */
const samples: Array<{ readonly name: string; readonly bytes: Uint8Array }> = []

describe('crash safety of makeQcow(recorder(RamDisk))', () => {
  for (const [configIndex, config] of configs.entries()) {
    it(`every cut point of random workloads is a valid image holding the flushed data (${config.name})`, async () => {
      const before = totals.states
      let sampled = 0
      for (let w = 0; w < WORKLOADS; w++) {
        const seed = configIndex * 1000 + w
        const run = await recordWorkload(config.create, seed, BATCHES, config.connect)
        totals.workloads++
        for (const op of run.steps.flatMap((step) => step.batch)) totals.requests[op.kind] = (totals.requests[op.kind] ?? 0) + 1
        for (const kind of run.offered) if (!offered.includes(kind)) offered.push(kind)
        const cuts = Array.from({ length: run.lastCut - run.firstCut + 1 }, (_, i) => run.firstCut + i)
        totals.cutPoints += cuts.length
        for (const [s, keep] of STRATEGIES.entries()) {
          const mine = STRATEGIES_PER_CUT === STRATEGIES.length ? cuts : cuts.filter((c) => (c + seed) % STRATEGIES.length === s)
          const images = await run.rec.crashImages({ cuts: mine, keep, seed })()
          if (images._tag === 'Left') throw new Error(`crashImages: ${JSON.stringify(images.left)}`)
          for (const image of images.right) {
            const verdict = await checkCrashImage(run, image)
            totals.states++
            if (verdict.dirty) totals.dirty++
            if (verdict.leaks > 0) totals.leaky++
            if (verdict.problem !== undefined) {
              expect.fail(`${config.name}, workload seed ${seed}, cut ${image.cutAt} of ${run.lastCut}, keep '${keep}': ${verdict.problem}`)
            }
            if ((verdict.dirty || image.unflushedWrites > 0) && totals.states % RECOVERY_EVERY === 0) {
              const recovery = await checkRecoveryCrashes(image, keep, seed)
              totals.recoveryStates += recovery.states
              if (recovery.problem !== undefined) {
                expect.fail(`${config.name}, workload seed ${seed}, crash at cut ${image.cutAt} (keep '${keep}'), then ${recovery.problem}`)
              }
            }
            const wanted = image.unflushedWrites > 0 && sampled < QEMU_SAMPLES_PER_CONFIG && (image.cutAt + s) % 5 === 0
            if (wanted) {
              sampled++
              const name = `${configIndex}-${seed}-${image.cutAt}-${keep}`
              if (!verdict.dirty) samples.push({ name: `${name}-raw`, bytes: verdict.rawBytes })
              if (verdict.repairedBytes !== undefined) samples.push({ name: `${name}-reopened`, bytes: verdict.repairedBytes })
            }
          }
        }
      }
      expect(totals.states - before).toBeGreaterThanOrEqual(WORKLOADS * 20)
    }, SOAK > 0 ? 3_600_000 : 120_000)
  }

  it('tried the expected number of cut points', () => {
    console.log(
      `crash test: ${totals.workloads} workloads, ${totals.cutPoints} cut points, ${totals.states} crash states checked ` +
        `(${totals.dirty} dirty lazy-refcount images repaired, ${totals.leaky} with leaks), ` +
        `plus ${totals.recoveryStates} states of crashes during recovery; guest requests ${JSON.stringify(totals.requests)}`,
    )
    for (const kind of ['write', 'flush', ...offered]) expect(totals.requests[kind] ?? 0, kind).toBeGreaterThan(0)
    expect(totals.workloads).toBe(configs.length * WORKLOADS)
    expect(totals.states).toBeGreaterThanOrEqual(totals.cutPoints * STRATEGIES_PER_CUT)
    expect(totals.cutPoints).toBeGreaterThan(configs.length * WORKLOADS * BATCHES)
    expect(totals.recoveryStates).toBeGreaterThan(totals.states / RECOVERY_EVERY)
  })
})

describeWithQemu('crash images pass qemu-img check', () => {
  const tmp = useTempDir('qcow-crash-')
  it('reports no corruption on a sample of raw and reopened crash images', async () => {
    expect(samples.length).toBeGreaterThan(configs.length)
    for (const sample of samples) {
      const path = tmp.file(`${sample.name}.qcow2`)
      await writeBytes(path, sample.bytes)
      const result = await check(path)
      expect(result.report, `${sample.name}: ${result.stderr}`).toBeDefined()
      expect(result.report?.corruptions ?? 0, `${sample.name}: ${result.stdout}`).toBe(0)
      expect(result.report?.['check-errors'], sample.name).toBe(0)
    }
    console.log(`crash test: qemu-img check found no corruption in ${samples.length} crash images`)
  }, 300_000)
})
