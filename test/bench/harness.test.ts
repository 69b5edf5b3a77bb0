// The bench harness's pure parts: medians, qemu-img bench offsets, A/B alternation and profile summaries.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fc, test } from '@fast-check/vitest'
import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'
import { median, runGroup } from '../../bench/harness/collect.js'
import { QUICK } from '../../bench/harness/sizes.js'
import type { Outcome } from '../../bench/harness/sides.js'
import type { Group } from '../../bench/harness/workloads.js'
import { requestOffset } from '../../bench/ours/queue.js'
import { summarizeProfiles } from '../../bench/report/profile.js'

describe('median', () => {
  test.prop([fc.array(fc.integer({ min: -1e6, max: 1e6 }), { minLength: 1, maxLength: 50 })])('has as many values at or below it as at or above it', (values) => {
    const m = median(values)
    const below = values.filter((v) => v <= m).length
    const above = values.filter((v) => v >= m).length
    expect(below).toBeGreaterThanOrEqual(values.length / 2)
    expect(above).toBeGreaterThanOrEqual(values.length / 2)
    expect(m).toBeGreaterThanOrEqual(Math.min(...values))
    expect(m).toBeLessThanOrEqual(Math.max(...values))
  })
})

describe('requestOffset', () => {
  test.prop([
    fc.integer({ min: 1, max: 1 << 16 }).map((sectors) => sectors * 512),
    fc.integer({ min: 1, max: 1 << 20 }).map((sectors) => sectors * 512),
    fc.integer({ min: 1, max: 300 }),
  ])("matches qemu-img 7.2's running offset (add the step, wrap at the image size)", (imageBytes, stepBytes, count) => {
    const pattern = { write: false, count, requestBytes: 512, stepBytes }
    let running = 0
    for (let index = 0; index < count; index++) {
      expect(requestOffset(pattern, imageBytes, index)).toBe(running)
      running = (running + stepBytes) % imageBytes
    }
  })
})

const outcome = (value: number): Outcome => ({ kind: 'ok', values: [value, value * 2], peakRssKiB: 1024 * value })

const fakeGroup = (calls: string[], ours: (run: number) => Outcome, theirs: (run: number) => Outcome): Group => ({
  rows: [
    { id: 'a', name: 'first', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } },
    { id: 'b', name: 'second', unit: 'MiB/s', target: { kind: 'rss', maxMiB: 4 } },
  ],
  ours: async (_ctx, run) => {
    calls.push(`ours ${run}`)
    return ours(run)
  },
  theirs: async (_ctx, run) => {
    calls.push(`theirs ${run}`)
    return theirs(run)
  },
})

describe('runGroup', () => {
  const ctx = { dir: os.tmpdir(), sizes: QUICK }

  it('alternates ours and theirs and reports medians, ratios and verdicts', async () => {
    const calls: string[] = []
    const oursValues = [3, 9, 6]
    const theirsValues = [2, 4, 1]
    const { reports } = await runGroup(fakeGroup(calls, (run) => outcome(oursValues[run]), (run) => outcome(theirsValues[run])), ctx, 3, () => undefined)
    expect(calls).toEqual(['ours 0', 'theirs 0', 'ours 1', 'theirs 1', 'ours 2', 'theirs 2'])
    expect(reports.map((r) => [r.ours, r.theirs, r.ratio])).toEqual([
      [median(oursValues), median(theirsValues), median(oursValues) / median(theirsValues)],
      [2 * median(oursValues), 2 * median(theirsValues), median(oursValues) / median(theirsValues)],
    ])
    expect(reports[0].met).toBe(median(oursValues) / median(theirsValues) >= 1)
    expect(reports[1].oursPeakRssMiB).toBe(Math.max(...oursValues))
    expect(reports[1].met).toBe(Math.max(...oursValues) < 4)
  })

  it('stops asking an unavailable side, keeps measuring the other, and gives no ratio', async () => {
    const calls: string[] = []
    const { reports } = await runGroup(fakeGroup(calls, () => ({ kind: 'unavailable', reason: 'no engine' }), () => outcome(5)), ctx, 3, () => undefined)
    expect(calls).toEqual(['ours 0', 'theirs 0', 'theirs 1', 'theirs 2'])
    for (const r of reports) {
      expect(r.ours).toBeNull()
      expect(r.ratio).toBeNull()
      expect(r.met).toBeNull()
      expect(r.note).toContain('ours unavailable: no engine')
    }
    expect(reports[0].theirs).toBe(5)
  })
})

describe('summarizeProfiles', () => {
  it('charges each sample the gap to the next one and ranks functions and files by it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-profile-'))
    try {
      const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 4, columnNumber: 0, scriptId: '1' })
      const profile = {
        nodes: [
          { id: 1, callFrame: frame('(root)', '') },
          { id: 2, callFrame: frame('hot', 'file:///repo/dist-bench/src/qcow/io/read.js') },
          { id: 3, callFrame: frame('cold', 'file:///repo/dist-bench/src/qcow/io/read.js') },
        ],
        samples: [2, 3, 2, 2],
        timeDeltas: [5, 1000, 3000, 2000],
      }
      writeFileSync(path.join(dir, 'a.cpuprofile'), JSON.stringify(profile))
      writeFileSync(path.join(dir, 'a.cpuprofile.memory.json'), JSON.stringify({ rss: 2 ** 21, heapUsed: 2 ** 20, external: 0, arrayBuffers: 0 }))
      const summary = summarizeProfiles(dir, '/repo')
      if (E.isLeft(summary)) throw new Error(summary.left)
      // hot: gaps after samples 0 and 2 (1 ms + 2 ms) and none after the last; cold: 3 ms.
      expect(summary.right.totalMs).toBe(6)
      expect(summary.right.functions.map((h) => [h.name, h.selfMs, h.percent])).toEqual([
        ['hot', 3, 50],
        ['cold', 3, 50],
      ])
      expect(summary.right.functions[0].where).toBe('src/qcow/io/read.ts:5')
      expect(summary.right.files).toEqual([{ name: 'src/qcow/io/read.ts', where: 'src/qcow/io/read.ts', selfMs: 6, percent: 100 }])
      expect(summary.right.memory).toEqual({ rss: 2, heapUsed: 1, external: 0, arrayBuffers: 0 })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names frames of the CLI bundle after the module whose code holds their line', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-profile-'))
    try {
      const bundle = path.join(dir, 'cli-bundle', 'qcow.cjs')
      mkdirSync(path.dirname(bundle))
      writeFileSync(bundle, ['// node_modules/commander/lib/command.js', 'a()', '// dist/qcow/maintenance/copied.js', 'b()', 'c()'].join('\n'))
      const frame = (functionName: string, lineNumber: number) => ({ functionName, url: `file://${bundle}`, lineNumber, columnNumber: 0, scriptId: '1' })
      const profile = {
        nodes: [
          { id: 1, callFrame: frame('parse', 1) },
          { id: 2, callFrame: frame('compareEntries', 4) },
        ],
        samples: [1, 2, 2],
        timeDeltas: [0, 1000, 2000],
      }
      writeFileSync(path.join(dir, 'b.cpuprofile'), JSON.stringify(profile))
      const summary = summarizeProfiles(dir, '/repo')
      if (E.isLeft(summary)) throw new Error(summary.left)
      expect(summary.right.functions.map((h) => [h.name, h.where])).toEqual([
        ['compareEntries', 'src/qcow/maintenance/copied.ts'],
        ['parse', 'node_modules/commander/lib/command.js'],
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('says so when a directory holds no profile', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-profile-'))
    try {
      expect(E.isLeft(summarizeProfiles(dir, '/repo'))).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
