// Renders workload reports and fs micro-benchmark rows as Markdown tables (stdout and RESULTS.md alike).
import type { FsIoRow, WorkloadReport } from '../spec.js'

/** A number with three significant digits (thousands grouped), or a dash for null. */
export const formatNumber = (value: number | null | undefined): string => {
  if (value === null || value === undefined) return '—'
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US')
  return value.toPrecision(3)
}

const verdictText = (met: boolean | null | undefined): string => (met === true ? 'met' : met === false ? '**missed**' : '—')

const markdown = (header: ReadonlyArray<string>, lines: ReadonlyArray<ReadonlyArray<string>>): string =>
  [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n')

/** The results table: one line per workload, notes (unavailable sides, failures) listed under it. */
export const workloadTable = (reports: ReadonlyArray<WorkloadReport>): string => {
  const table = markdown(
    ['#', 'workload', 'ours', 'QEMU / baseline', 'unit', 'ratio', 'target', 'verdict', 'ours peak RSS MiB', 'theirs peak RSS MiB'],
    reports.map((r) => [
      r.id ?? '',
      r.name,
      formatNumber(r.ours),
      formatNumber(r.theirs),
      r.unit,
      r.ratio === null ? '—' : r.ratio.toFixed(2),
      r.target ?? '—',
      verdictText(r.met),
      formatNumber(r.oursPeakRssMiB),
      formatNumber(r.theirsPeakRssMiB),
    ]),
  )
  const notes = reports.filter((r) => r.note !== undefined).map((r) => `- ${r.id ?? r.name}: ${r.note}`)
  return notes.length === 0 ? table : `${table}\n\n${notes.join('\n')}`
}

/** The fs micro-benchmark table: one line per method, one column per request size. */
export const fsIoTable = (rows: ReadonlyArray<FsIoRow>): string => {
  const sizes = [...new Set(rows.map((row) => row.requestBytes))]
  const methods = [...new Set(rows.map((row) => row.method))]
  return markdown(
    ['method', ...sizes.map((bytes) => `${bytes} B ops/s`)],
    methods.map((method) => [
      method,
      ...sizes.map((bytes) => formatNumber(rows.find((row) => row.method === method && row.requestBytes === bytes)?.opsPerSecond)),
    ]),
  )
}
