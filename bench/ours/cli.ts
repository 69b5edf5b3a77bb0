// Worker jobs timing our CLI's work without Node's start-up: `check()` of an image opened untimed, and a whole command run in-process.
import * as E from 'fp-ts/lib/Either.js'
import type { CheckJob, CliJob, WorkerResult } from '../spec.js'
import { describeAny } from './describe.js'
import { loadCliMain, loadFileBlock, loadMakeQcow } from './engine.js'
import { profiled } from './profiler.js'

const failed = (reason: string, unavailable = false): WorkerResult => ({ ok: false, unavailable, reason })

/** Opens the image read-only without its backing file, as `qcow check` does (untimed), and times `check()` alone. */
export const runCheck = async (job: CheckJob): Promise<WorkerResult> => {
  const [makeQcow, fileBlock] = await Promise.all([loadMakeQcow(), loadFileBlock()])
  if (!makeQcow.ok) return failed(makeQcow.reason, true)
  if (!fileBlock.ok) return failed(fileBlock.reason, true)
  const base = await fileBlock.value.connect({ path: job.image, readOnly: true })()
  if (E.isLeft(base)) return failed(`FileBlock.connect: ${describeAny(base.left)}`)
  const opened = await makeQcow.value(fileBlock.value as never).connect(base.right, { readOnly: true, backing: null })()
  if (E.isLeft(opened)) return failed(`open: ${describeAny(opened.left)}`)
  const device = opened.right
  const seconds = await profiled(job.profile, async () => {
    const started = performance.now()
    const report = await device.check()()
    return E.isLeft(report) ? E.left(describeAny(report.left)) : E.right((performance.now() - started) / 1000)
  })
  await device.disconnect()()
  await base.right.disconnect()()
  return E.isLeft(seconds) ? failed(`check: ${seconds.left}`) : { ok: true, seconds: [seconds.right], fsio: [] }
}

const silent = { out: () => undefined, err: () => undefined, progressStream: undefined }

/**
 * Runs each command line of the job with the CLI's `main` in this process, timing each one: Node's
 * start-up and the loading of every CLI module (`--help` loads them all first) are left out.
 */
export const runCli = async (job: CliJob): Promise<WorkerResult> => {
  const main = await loadCliMain()
  if (!main.ok) return failed(main.reason, true)
  await main.value(['--help'], silent)
  const run = async (): Promise<E.Either<string, number[]>> => {
    const seconds: number[] = []
    for (const argv of job.commands) {
      const started = performance.now()
      const code = await main.value(argv, silent)
      if (code !== 0) return E.left(`qcow ${argv.join(' ')} exited ${code}`)
      seconds.push((performance.now() - started) / 1000)
    }
    return E.right(seconds)
  }
  const seconds = await profiled(job.profile, run)
  return E.isLeft(seconds) ? failed(seconds.left) : { ok: true, seconds: seconds.right, fsio: [] }
}
