// Minimal qemu-img calls for the engine's own sanity checks (to be replaced by test/support/qemu.ts from the interop work).
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as t from 'io-ts/lib/index.js'
import * as E from 'fp-ts/lib/Either.js'

/** True when qemu-img can be run. In CI its absence is a failure, elsewhere a skip. */
export const hasQemuImg = ((): boolean => {
  const ok = spawnSync('qemu-img', ['--version']).status === 0
  if (!ok && process.env.CI === 'true') throw new Error('qemu-img is required in CI but was not found')
  if (!ok) console.warn('qemu-img not found: skipping QEMU cross-checks')
  return ok
})()

const CheckReport = t.intersection([
  t.type({ 'check-errors': t.number }),
  t.partial({ corruptions: t.number, leaks: t.number }),
])

/** The parts of `qemu-img check --output=json` the tests look at. */
export interface CheckSummary {
  readonly checkErrors: number
  readonly corruptions: number
  readonly leaks: number
  readonly exitCode: number
}

/** Runs `fn` with a temporary directory, removed afterwards. */
export const withTempDir = async <A>(fn: (dir: string) => Promise<A>): Promise<A> => {
  const dir = mkdtempSync(join(tmpdir(), 'qcow-engine-'))
  try {
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes `bytes` to `dir/name` and returns the path. */
export const writeTemp = (dir: string, name: string, bytes: Uint8Array): string => {
  const path = join(dir, name)
  writeFileSync(path, bytes)
  return path
}

/** `qemu-img check --output=json` on a qcow2 file. */
export const qemuCheck = (path: string): CheckSummary => {
  const r = spawnSync('qemu-img', ['check', '--output=json', '-f', 'qcow2', path], { encoding: 'utf8' })
  const decoded = CheckReport.decode(JSON.parse(r.stdout))
  if (E.isLeft(decoded)) throw new Error(`unexpected qemu-img check output: ${r.stdout} ${r.stderr}`)
  const d = decoded.right
  return { checkErrors: d['check-errors'], corruptions: d.corruptions ?? 0, leaks: d.leaks ?? 0, exitCode: r.status ?? -1 }
}

/** `qemu-img compare -f qcow2 -F raw`: true when the guest contents are equal. */
export const qemuCompare = (qcowPath: string, rawPath: string): { equal: boolean; output: string } => {
  const r = spawnSync('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', qcowPath, rawPath], { encoding: 'utf8' })
  return { equal: r.status === 0, output: `${r.stdout}${r.stderr}` }
}

/** Runs qemu-img with arguments, returning stdout (throws on failure: test-only). */
export const qemuImg = (...args: string[]): string => execFileSync('qemu-img', args, { encoding: 'utf8' })
