// The two sides of every comparison: our worker/CLI processes and qemu-img, each measured as a child process.
import { existsSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as E from 'fp-ts/lib/Either.js'
import { WorkerResult, type IoPattern, type WorkerJob } from '../spec.js'
import { measure, type Measured } from './proc.js'

/** What one side produced in one run: a throughput per row, or why it did not. */
export type Outcome =
  | { readonly kind: 'ok'; readonly values: ReadonlyArray<number>; readonly peakRssKiB: number | null }
  | { readonly kind: 'unavailable' | 'failed'; readonly reason: string }

/** Builds a failed outcome. */
export const failed = (reason: string): Outcome => ({ kind: 'failed', reason })
/** Builds an unavailable outcome. */
export const unavailable = (reason: string): Outcome => ({ kind: 'unavailable', reason })

/** The repository root (dist-bench/bench/harness/ -> ../../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..')
const workerPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../ours/worker.js')
/** Our CLI's entry point. */
export const cliPath = path.join(repoRoot, 'bin', 'qcow.js')

/** Node flags that profile a whole process (our CLI) into `profileDir`. */
const profileFlags = (profileDir: string | undefined): string[] =>
  profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir]

const firstLine = (text: string): string => text.trim().split('\n').find((line) => line.trim() !== '') ?? ''

/**
 * Runs a worker job in a fresh node process; values are `toValues(seconds)` of what it timed. With
 * `profileDir`, the job writes a CPU profile of its timed part there (jobs without one are not profiled).
 */
export const runWorker = async (
  job: WorkerJob,
  toValues: (seconds: ReadonlyArray<number>) => ReadonlyArray<number>,
  profileDir?: string,
): Promise<Outcome & { readonly fsio?: WorkerResult }> => {
  const profile = profileDir === undefined ? null : path.join(profileDir, `${job.kind}-${process.hrtime.bigint()}.cpuprofile`)
  const withProfile = 'profile' in job ? { ...job, profile } : job
  const measured = await measure(['node', workerPath, JSON.stringify(withProfile)])
  if (E.isLeft(measured)) return failed(measured.left)
  const lastLine = measured.right.stdout.trim().split('\n').pop() ?? ''
  let parsed: unknown
  try {
    parsed = JSON.parse(lastLine)
  } catch {
    return failed(`worker exited ${measured.right.status}: ${firstLine(measured.right.stderr)}`)
  }
  const decoded = WorkerResult.decode(parsed)
  if (E.isLeft(decoded)) return failed('worker printed an unexpected result')
  const result = decoded.right
  if (!result.ok) return result.unavailable ? unavailable(result.reason) : failed(result.reason)
  return { kind: 'ok', values: toValues(result.seconds), peakRssKiB: measured.right.peakRssKiB, fsio: result }
}

/** Runs our CLI (`node bin/qcow.js ARGS`) and returns the measured process, or why it is unavailable. */
export const runOurCli = async (args: ReadonlyArray<string>, profileDir?: string): Promise<E.Either<Outcome, Measured>> => {
  if (!existsSync(cliPath)) return E.left(unavailable('bin/qcow.js does not exist yet'))
  const measured = await measure(['node', ...profileFlags(profileDir), cliPath, ...args])
  if (E.isLeft(measured)) return E.left(failed(measured.left))
  if (measured.right.status === 0) return E.right(measured.right)
  const message = firstLine(measured.right.stderr) || firstLine(measured.right.stdout)
  const missing = /unknown (command|option)|not (yet )?implemented|not supported|unsupported|too many arguments|cannot find module/i.test(message)
  return E.left((missing ? unavailable : failed)(`qcow ${args[0]} exited ${measured.right.status}: ${message}`))
}

/** Runs a qemu-img subcommand and returns the measured process. */
export const runQemuImg = async (args: ReadonlyArray<string>): Promise<E.Either<Outcome, Measured>> => {
  const measured = await measure(['qemu-img', ...args])
  if (E.isLeft(measured)) return E.left(unavailable(measured.left))
  if (measured.right.status !== 0) return E.left(failed(`qemu-img ${args[0]} exited ${measured.right.status}: ${firstLine(measured.right.stderr)}`))
  return E.right(measured.right)
}

/** `qemu-img bench` of one stream on a qcow2 image, with the flags of issue 6; yields the seconds it reports. */
export const qemuBench = async (image: string, pattern: IoPattern): Promise<E.Either<Outcome, { seconds: number; peakRssKiB: number | null }>> => {
  const args = [
    'bench',
    ...(pattern.write ? ['-w'] : []),
    '-t', 'writeback',
    '-c', String(pattern.count),
    '-s', String(pattern.requestBytes),
    ...(pattern.stepBytes === pattern.requestBytes ? [] : ['-S', String(pattern.stepBytes)]),
    '-f', 'qcow2',
    image,
  ]
  const measured = await runQemuImg(args)
  if (E.isLeft(measured)) return measured
  const match = /Run completed in ([0-9.]+) seconds/.exec(measured.right.stdout)
  if (match === null) return E.left(failed(`qemu-img bench printed no timing: ${firstLine(measured.right.stdout)}`))
  return E.right({ seconds: Number(match[1]), peakRssKiB: measured.right.peakRssKiB })
}
