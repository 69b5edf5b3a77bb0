// Hostile images: replays the fuzzer's regression corpus (test/fuzz/corpus) and runs a short seeded fuzz pass.
// Both go through the compiled fuzz worker, so a hang or a memory blow-up fails the case instead of the run.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { campaign } from '../../fuzz/campaign.js'
import { loadCorpus } from '../../fuzz/corpus.js'
import { FuzzPool } from '../../fuzz/pool.js'
import { makeSeeds, type Seed } from '../../fuzz/seeds.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const qemuPresent = spawnSync('qemu-img', ['--version']).status === 0
const corpus = loadCorpus(path.join(root, 'test', 'fuzz', 'corpus'))

describe('hostile images', () => {
  let pool: FuzzPool
  let seeds: Seed[]

  beforeAll(async () => {
    if (!qemuPresent && process.env.CI === 'true') throw new Error('qemu-img is missing on CI: install qemu-utils')
    // Type errors are the typecheck step's to report; tsc still emits, which is all the worker needs.
    spawnSync(path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.fuzz.json'], { cwd: root })
    pool = new FuzzPool(path.join(root, 'dist-fuzz', 'fuzz', 'worker.js'))
    seeds = await makeSeeds()
  }, 60_000)

  afterAll(() => pool.close())

  it.each(corpus.map((c) => [c.name, c] as const))('regression %s ends in values, in time and memory', async (_, c) => {
    const result = await pool.run(c.image)
    expect(result.outcome.failure, `${c.note.failure} (seed ${c.note.seed})`).toBeUndefined()
  })

  it('a short seeded fuzz pass finds no failure', async () => {
    expect(seeds.length).toBeGreaterThanOrEqual(qemuPresent ? 10 : 2)
    const stats = await campaign(pool, seeds, { seed: 7, seconds: 12, maxCases: 80, maxFailures: 3 })
    const found = stats.failures.map((f) => `${f.seed}: ${f.failure} ${JSON.stringify(f.edits)}`)
    expect(found).toEqual([])
    expect(stats.cases).toBeGreaterThan(20)
  }, 60_000)
})

describe('the fuzz watchdog', () => {
  // A stand-in worker: image byte 0 says what to do (1 hang, 2 die, 3 allocate without end, else reply).
  const dir = mkdtempSync(path.join(tmpdir(), 'qcow-fuzz-watchdog-'))
  const worker = path.join(dir, 'worker.cjs')
  writeFileSync(
    worker,
    `process.on('message', (m) => {
      if (m.image[0] === 1) return
      if (m.image[0] === 2) process.exit(3)
      if (m.image[0] === 3) { const keep = []; for (;;) keep.push(new Array(1e6).fill(1)) }
      process.send({ id: m.id, outcome: { calls: 1, lefts: 0, opened: true }, peakBytes: 0, ms: 1 })
    })
    process.send({ ready: true })`,
  )
  const pool = new FuzzPool(worker, { timeoutMs: 2000, memoryBytes: 1 << 20, heapMb: 64 })
  afterAll(() => {
    pool.close()
    if (path.isAbsolute(dir) && path.basename(dir).startsWith('qcow-fuzz-watchdog-')) rmSync(dir, { recursive: true, force: true })
  })

  it('reports a hang, a dead worker and a heap blow-up as failures and keeps going', async () => {
    const run = async (what: number) => (await pool.run(new Uint8Array([what]))).outcome.failure
    expect(await run(0)).toBeUndefined()
    expect(await run(1)).toMatch(/^timeout/)
    expect(await run(2)).toMatch(/^worker died/)
    expect(await run(3)).toMatch(/^(worker died|memory)/)
    expect(await run(0)).toBeUndefined()
  }, 30_000)
})
