// A fuzz campaign: mutate seeds, run each mutant in the worker pool, minimize and report every failure.
import { seededRandom } from '../src/testing/prng.js'
import { layoutOf, type Layout } from './layout.js'
import { failureClass, minimize } from './minimize.js'
import { applyEdits, mutate, type Edit } from './mutate.js'
import type { FuzzPool } from './pool.js'
import type { Seed } from './seeds.js'

/** A failing case after minimization. */
export interface FoundFailure {
  readonly seed: string
  readonly failure: string
  readonly edits: ReadonlyArray<Edit>
  readonly image: Uint8Array
  readonly case: number
}

/** Totals of a campaign. */
export interface CampaignStats {
  readonly cases: number
  /** Mutants the engine opened read-write (the rest were refused with a typed error). */
  readonly opened: number
  readonly calls: number
  readonly lefts: number
  readonly failures: ReadonlyArray<FoundFailure>
  readonly slowestMs: number
  readonly peakBytes: number
  readonly seconds: number
}

/** How long and how a campaign runs. */
export interface CampaignOptions {
  readonly seed: number
  /** Stop after this many seconds or this many cases, whichever comes first. */
  readonly seconds: number
  readonly maxCases?: number
  /** Distinct failure classes to minimize and report (further ones of a known class are only counted). */
  readonly maxFailures?: number
  readonly log?: (line: string) => void
}

/** Runs mutants of `seeds` through `pool` until the time or case budget is spent. */
export const campaign = async (pool: FuzzPool, seeds: ReadonlyArray<Seed>, options: CampaignOptions): Promise<CampaignStats> => {
  const random = seededRandom(options.seed)
  const layouts = new Map<string, Layout>(seeds.map((s) => [s.name, layoutOf(s.image)]))
  const deadline = performance.now() + options.seconds * 1000
  const failures: FoundFailure[] = []
  const seen = new Set<string>()
  let cases = 0
  let opened = 0
  let calls = 0
  let lefts = 0
  let slowestMs = 0
  let peakBytes = 0
  const started = performance.now()
  while (performance.now() < deadline && cases < (options.maxCases ?? Infinity)) {
    const seed = seeds[Math.floor(random() * seeds.length)]
    const edits = mutate(random, seed.image, layouts.get(seed.name) as Layout, layoutOf)
    const result = await pool.run(applyEdits(seed.image, edits))
    cases++
    calls += result.outcome.calls
    lefts += result.outcome.lefts
    if (result.outcome.opened) opened++
    slowestMs = Math.max(slowestMs, result.ms)
    peakBytes = Math.max(peakBytes, result.peakBytes)
    const failure = result.outcome.failure
    if (failure === undefined) continue
    const key = `${failureClass(failure)}|${failure.replace(/[0-9]+/g, 'N').slice(0, 120)}`
    options.log?.(`case ${cases} (${seed.name}): ${failure}`)
    if (seen.has(key) || failures.length >= (options.maxFailures ?? 20)) continue
    seen.add(key)
    const cls = failureClass(failure)
    const minimal = await minimize(edits, async (candidate) => {
      const r = await pool.run(applyEdits(seed.image, candidate))
      return r.outcome.failure !== undefined && failureClass(r.outcome.failure) === cls
    })
    const again = await pool.run(applyEdits(seed.image, minimal))
    failures.push({ seed: seed.name, failure: again.outcome.failure ?? failure, edits: minimal, image: applyEdits(seed.image, minimal), case: cases })
    options.log?.(`  minimized to ${minimal.length} edited bytes: ${JSON.stringify(minimal)}`)
  }
  return { cases, opened, calls, lefts, failures, slowestMs, peakBytes, seconds: (performance.now() - started) / 1000 }
}
