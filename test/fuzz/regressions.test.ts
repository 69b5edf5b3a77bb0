// Hostile images: replays the fuzzer's regression corpus (test/fuzz/corpus) and runs a short seeded fuzz pass.
// Both go through the compiled fuzz worker, so a hang or a memory blow-up fails the case instead of the run.
import { spawnSync } from 'node:child_process'
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
    const stats = await campaign(pool, seeds, { seed: 7, seconds: 20, maxCases: 100, maxFailures: 3 })
    const found = stats.failures.map((f) => `${f.seed}: ${f.failure} ${JSON.stringify(f.edits)}`)
    expect(found).toEqual([])
    expect(stats.cases).toBeGreaterThan(20)
  }, 60_000)
})
