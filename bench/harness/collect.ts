// Runs each group A B A B (ours, theirs, ours, theirs ...) and reduces the runs to medians, ratios and verdicts.
import { rmSync } from 'node:fs'
import * as E from 'fp-ts/lib/Either.js'
import type { WorkloadReport } from '../spec.js'
import type { Outcome } from './sides.js'
import type { Context, Group, Row, Target } from './workloads.js'

/** The median of a non-empty list. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Everything measured for one side of a group: values per row per run, peak RSS, or the reason it stopped. */
interface SideRuns {
  readonly values: number[][]
  peakRssKiB: number | null
  stopped?: Extract<Outcome, { reason: string }>
}

const record = (side: SideRuns, outcome: Outcome): void => {
  if (outcome.kind !== 'ok') {
    side.stopped = outcome
    return
  }
  outcome.values.forEach((value, row) => side.values[row].push(value))
  if (outcome.peakRssKiB !== null) side.peakRssKiB = Math.max(side.peakRssKiB ?? 0, outcome.peakRssKiB)
}

const targetText = (target: Target | null): string | undefined =>
  target === null ? undefined : target.kind === 'ratio' ? `ratio ≥ ${target.min}` : `peak RSS < ${target.maxMiB} MiB`

const toMiB = (kib: number | null): number | null => (kib === null ? null : kib / 1024)

const verdict = (target: Target | null, ratio: number | null, oursRssMiB: number | null): boolean | null => {
  if (target === null) return null
  if (target.kind === 'ratio') return ratio === null ? null : ratio >= target.min
  return oursRssMiB === null ? null : oursRssMiB < target.maxMiB
}

const describeStop = (side: string, stopped: SideRuns['stopped']): string | undefined =>
  stopped === undefined ? undefined : `${side} ${stopped.kind}: ${stopped.reason}`

const report = (row: Row, index: number, ours: SideRuns, theirs: SideRuns, runs: number): WorkloadReport => {
  const oursValue = ours.stopped === undefined && ours.values[index].length > 0 ? median(ours.values[index]) : null
  const theirsValue = theirs.stopped === undefined && theirs.values[index].length > 0 ? median(theirs.values[index]) : null
  const ratio = oursValue !== null && theirsValue !== null ? oursValue / theirsValue : null
  const oursPeakRssMiB = toMiB(ours.peakRssKiB)
  const notes = [describeStop('ours', ours.stopped), describeStop('theirs', theirs.stopped)].filter((n): n is string => n !== undefined)
  const target = targetText(row.target)
  return {
    id: row.id,
    name: row.name,
    ours: oursValue,
    theirs: theirsValue,
    unit: row.unit,
    ratio,
    oursPeakRssMiB,
    theirsPeakRssMiB: toMiB(theirs.peakRssKiB),
    ...(target === undefined ? {} : { target }),
    met: verdict(row.target, ratio, ours.stopped === undefined ? oursPeakRssMiB : null),
    runs,
    ...(notes.length === 0 ? {} : { note: notes.join('; ') }),
  }
}

/** What one group produced: a report per row, and whether a profile of our side was written to the profile directory. */
export interface GroupResult {
  readonly reports: ReadonlyArray<WorkloadReport>
  readonly profiled: boolean
}

/**
 * Runs one group `runs` times, alternating sides, and returns one report per row. When `profileDir` is given
 * and a row misses its target, our side runs once more under `node --cpu-prof` into that directory.
 */
export const runGroup = async (
  group: Group,
  ctx: Context,
  runs: number,
  log: (line: string) => void,
  profileDir?: string,
): Promise<GroupResult> => {
  const fresh = (): SideRuns => ({ values: group.rows.map(() => []), peakRssKiB: null })
  const ours = fresh()
  const theirs = fresh()
  const label = group.rows.map((row) => row.id).join('+')
  const prepared = group.prepare === undefined ? E.right(undefined) : await group.prepare(ctx)
  if (E.isLeft(prepared)) {
    ours.stopped = theirs.stopped = { kind: 'unavailable', reason: `setup failed: ${prepared.left}` }
  }
  for (let run = 0; run < runs; run++) {
    if (ours.stopped === undefined) record(ours, await group.ours(ctx, run))
    if (theirs.stopped === undefined) record(theirs, await group.theirs(ctx, run))
    log(`workload ${label}: run ${run + 1}/${runs} done`)
  }
  const reports = group.rows.map((row, index) => report(row, index, ours, theirs, runs))
  const profiled = profileDir !== undefined && reports.some((r) => r.met === false)
  if (profiled) {
    log(`workload ${label}: profiling our side`)
    await group.ours(ctx, runs, profileDir)
  }
  for (const target of group.cleanup?.(ctx) ?? []) rmSync(target, { force: true })
  return { reports, profiled }
}
