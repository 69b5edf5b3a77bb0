// npm run fuzz -- [--seconds N] [--seed S] [--save] [--json]: mutates the seed images for N seconds
// (default 60) and prints the totals; with --save, minimized failing cases go to test/fuzz/corpus.
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { campaign } from './campaign.js'
import { saveCase } from './corpus.js'
import { FuzzPool } from './pool.js'
import { makeSeeds } from './seeds.js'

const args = process.argv.slice(2)
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const value = Number(args[at + 1])
  if (!Number.isFinite(value) || value < 0) {
    console.error(`fuzz: ${name} needs a non-negative number, got ${args[at + 1]}`)
    process.exit(2)
  }
  return value
}

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..', '..')
const seconds = option('--seconds', 60)
const seed = option('--seed', Date.now() % 1_000_000)
const json = args.includes('--json')
const log = (line: string): void => {
  if (!json) console.log(line)
}

const seeds = await makeSeeds()
log(`fuzz: ${seeds.length} seeds (${seeds.map((s) => `${s.name} ${Math.round(s.image.length / 1024)} KiB`).join(', ')}), seed ${seed}, ${seconds} s`)
const pool = new FuzzPool(join(here, 'worker.js'))
const stats = await campaign(pool, seeds, { seed, seconds, log })
pool.close()
if (args.includes('--save')) {
  const dir = join(root, 'test', 'fuzz', 'corpus')
  stats.failures.forEach((f, i) => {
    const name = `${new Date().toISOString().slice(0, 10)}-s${seed}-${i}-${f.seed}`
    saveCase(dir, name, f.image, { seed: f.seed, failure: f.failure, edits: f.edits, found: new Date().toISOString() })
    log(`saved ${join(dir, name)}.qcow2.gz`)
  })
}
const summary = {
  seed,
  seeds: seeds.map((s) => s.name),
  cases: stats.cases,
  opened: stats.opened,
  calls: stats.calls,
  lefts: stats.lefts,
  failures: stats.failures.map((f) => ({ seed: f.seed, failure: f.failure, edits: f.edits.length })),
  casesPerSecond: Math.round(stats.cases / stats.seconds),
  slowestMs: Math.round(stats.slowestMs),
  peakMiB: Math.round(stats.peakBytes / 1048576),
  seconds: Math.round(stats.seconds),
}
console.log(json ? JSON.stringify(summary) : `fuzz summary: ${JSON.stringify(summary, null, 2)}`)
process.exit(stats.failures.length === 0 ? 0 : 1)
