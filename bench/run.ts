// `npm run bench`: runs every workload of issue 6 through qcow-ts and QEMU, prints a table (or --json), writes RESULTS.md.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import * as E from 'fp-ts/lib/Either.js'
import { runGroup } from './harness/collect.js'
import { repoRoot, runWorker } from './harness/sides.js'
import { FULL, QUICK } from './harness/sizes.js'
import { workloadGroups } from './harness/workloads.js'
import { readMachine } from './report/machine.js'
import { summarizeProfiles } from './report/profile.js'
import { resultsMarkdown, type GroupProfile } from './report/results.js'
import { fsIoTable, workloadTable } from './report/table.js'
import type { BenchReport, FsIoRow, WorkloadReport } from './spec.js'

const USAGE = `usage: npm run bench -- [--quick] [--json] [--runs N] [--only IDS] [--no-results] [--no-profile]
  --quick       shrink every size (a smoke run of a few seconds); never writes RESULTS.md
  --json        print {"workloads":[{name, ours, theirs, unit, ratio, ...}]} instead of the table
  --runs N      measured runs per side (default 3, quick 1)
  --only IDS    comma-separated workload ids to run (e.g. 3,4 or 9.1); the group of each id runs, after the
                groups it needs (2, 3 and 4 need 1)
  --results F   write the results Markdown to F (default bench/RESULTS.md; with --only, only when given)
  --no-results  do not write the results Markdown
  --no-profile  do not profile workloads that miss their target`

const parsed = (() => {
  try {
    return E.right(
      parseArgs({
        options: {
          quick: { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
          runs: { type: 'string' },
          only: { type: 'string' },
          results: { type: 'string' },
          'no-results': { type: 'boolean', default: false },
          'no-profile': { type: 'boolean', default: false },
          help: { type: 'boolean', default: false },
        },
      }).values,
    )
  } catch (cause) {
    return E.left(cause instanceof Error ? cause.message : String(cause))
  }
})()

const main = async (): Promise<number> => {
  if (E.isLeft(parsed)) {
    process.stderr.write(`bench: ${parsed.left}\n${USAGE}\n`)
    return 2
  }
  const options = parsed.right
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const sizes = options.quick ? QUICK : FULL
  const runs = options.runs === undefined ? sizes.runs : Number(options.runs)
  if (!Number.isSafeInteger(runs) || runs < 1 || runs > 100) {
    process.stderr.write(`bench: --runs must be an integer from 1 to 100\n`)
    return 2
  }
  const groups = workloadGroups(sizes)
  const selected = options.only?.split(',').map((id) => id.trim())
  // A selected group brings along the groups it requires (workloads 2-4 read the images workload 1 writes).
  const only = selected?.concat(groups.filter((g) => g.rows.some((row) => selected.includes(row.id))).flatMap((g) => g.requires ?? []))
  const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`)
  const scratchRoot = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = mkdtempSync(path.join(scratchRoot, 'qcow-ts-bench-'))
  const profileRoot = options.quick || options['no-profile'] ? undefined : path.join(dir, 'profiles')
  const started = performance.now()
  const machine = await readMachine()
  const reports: WorkloadReport[] = []
  const profiles: GroupProfile[] = []
  try {
    for (const group of groups) {
      if (only !== undefined && !group.rows.some((row) => only.includes(row.id))) continue
      const profileDir = profileRoot === undefined ? undefined : path.join(profileRoot, group.rows[0].id)
      if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true })
      const result = await runGroup(group, { dir, sizes }, runs, log, profileDir)
      reports.push(...result.reports)
      if (result.profiled && profileDir !== undefined) {
        const summary = summarizeProfiles(profileDir, repoRoot)
        profiles.push({ rows: result.reports, summary: E.isLeft(summary) ? summary.left : summary.right })
      }
    }
    log('fs micro-benchmark')
    const fsio = await runWorker(
      { kind: 'fsio', path: path.join(dir, 'fsio.bin'), fileBytes: 64 * 1024 * 1024, requestBytes: [512, 4096, 65536], count: sizes.fsioCount, depth: 64 },
      () => [],
    )
    const fsioRows: FsIoRow[] | string = fsio.kind === 'ok' && fsio.fsio?.ok === true ? fsio.fsio.fsio : fsio.kind === 'ok' ? 'no rows' : fsio.reason
    const output: BenchReport = { mode: sizes.mode, workloads: reports, ...(typeof fsioRows === 'string' ? {} : { fsio: fsioRows }) }
    process.stdout.write(
      options.json
        ? `${JSON.stringify(output, null, 2)}\n`
        : `${workloadTable(reports)}\n\n${typeof fsioRows === 'string' ? `fs micro-benchmark unavailable: ${fsioRows}` : fsIoTable(fsioRows)}\n`,
    )
    const resultsPath = options.results ?? (only === undefined ? path.join(repoRoot, 'bench', 'RESULTS.md') : undefined)
    if (!options.quick && !options['no-results'] && resultsPath !== undefined) {
      const analysisPath = path.join(repoRoot, 'bench', 'analysis.md')
      const markdown = resultsMarkdown({
        machine,
        runs,
        seconds: (performance.now() - started) / 1000,
        reports,
        fsio: fsioRows,
        profiles,
        analysis: existsSync(analysisPath) ? readFileSync(analysisPath, 'utf8') : null,
      })
      writeFileSync(resultsPath, markdown)
      log(`wrote ${resultsPath}`)
    }
    return 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

process.exitCode = await main()
