// Smoke test of the bench harness: `--quick --json` runs every workload and prints a report the codec accepts.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import { beforeAll, describe, expect, it } from 'vitest'
import { BenchReport } from '../../bench/spec.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const qemuImgPresent = spawnSync('qemu-img', ['--version']).status === 0
const EXPECTED_IDS = ['1', '2', '3', '4', '5', '6a', '6b', '6a.w', '6b.w', '7', '7.w', '8', '9.1', '9.2', '9.3', '9.4']

describe('npm run bench -- --quick --json', () => {
  let report: BenchReport

  beforeAll(() => {
    if (!qemuImgPresent && process.env.CI === 'true') throw new Error('qemu-img is missing on CI: install qemu-utils')
    // Type errors are the typecheck step's to report; tsc still emits, which is all the harness needs here.
    const tsc = path.join(root, 'node_modules', '.bin', 'tsc')
    spawnSync(tsc, ['-p', 'tsconfig.build.json'], { cwd: root })
    spawnSync(process.execPath, [path.join(root, 'scripts', 'bundle-cli.mjs'), path.join(root, 'dist')], { cwd: root })
    spawnSync(tsc, ['-p', 'tsconfig.bench.json'], { cwd: root })
    const run = spawnSync(process.execPath, [path.join(root, 'dist-bench', 'bench', 'run.js'), '--quick', '--json'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect(run.status, run.stderr).toBe(0)
    const decoded = BenchReport.decode(JSON.parse(run.stdout))
    if (E.isLeft(decoded)) throw new Error(PathReporter.report(decoded).join('\n'))
    report = decoded.right
  }, 180_000)

  it('reports every workload of issue 6 with a unit', () => {
    expect(report.mode).toBe('quick')
    expect(report.workloads.map((w) => w.id)).toEqual(EXPECTED_IDS)
    for (const workload of report.workloads) expect(workload.unit).not.toBe('')
  })

  it('gives each side a positive number or says why it has none, and the ratio only with both', () => {
    for (const w of report.workloads) {
      if (w.ours === null || w.theirs === null) expect(w.note, `${w.id} has no value and no reason`).toMatch(/unavailable|failed/)
      if (w.ours !== null) expect(w.ours).toBeGreaterThan(0)
      if (w.theirs !== null) expect(w.theirs).toBeGreaterThan(0)
      if (w.ours !== null && w.theirs !== null) expect(w.ratio).toBeCloseTo(w.ours / w.theirs, 9)
      else expect(w.ratio).toBeNull()
    }
  })

  it.skipIf(!qemuImgPresent)('measures QEMU and the memory-copy baseline on every workload', () => {
    for (const w of report.workloads) expect(w.theirs, `${w.id}: ${w.note ?? ''}`).not.toBeNull()
  })

  it('runs the fs micro-benchmark for every method at every size, FileBlock included', () => {
    const rows = report.fsio ?? []
    const methods = new Set(rows.map((row) => row.method))
    expect([...methods].filter((method) => method.startsWith('FileBlock'))).toHaveLength(2)
    expect(rows).toHaveLength(methods.size * 3)
    for (const method of methods) {
      expect(rows.filter((row) => row.method === method).map((row) => row.requestBytes)).toEqual([512, 4096, 65536])
    }
    for (const row of rows) expect(row.opsPerSecond).toBeGreaterThan(0)
  })
})
