// Entry point of a bench worker process: decodes one job from argv, runs it, prints one JSON WorkerResult line.
import * as E from 'fp-ts/lib/Either.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import { WorkerJob, type WorkerResult } from '../spec.js'
import { runCheck, runCli } from './cli.js'
import { runFsIo } from './fsio.js'
import { runMemcpy } from './memcpy.js'
import { runQcowFile } from './qcow-file.js'
import { runQcowRamDisk } from './qcow-ramdisk.js'

const run = async (job: WorkerJob): Promise<WorkerResult> => {
  switch (job.kind) {
    case 'qcow-file':
      return runQcowFile(job)
    case 'qcow-ramdisk':
      return runQcowRamDisk(job)
    case 'memcpy':
      return runMemcpy(job)
    case 'fsio':
      return runFsIo(job)
    case 'check':
      return runCheck(job)
    case 'cli':
      return runCli(job)
  }
}

const parse = (text: string | undefined): E.Either<string, WorkerJob> => {
  try {
    const decoded = WorkerJob.decode(JSON.parse(text ?? ''))
    return E.isLeft(decoded) ? E.left(PathReporter.report(decoded).join('; ')) : E.right(decoded.right)
  } catch (cause) {
    return E.left(`job is not JSON: ${String(cause)}`)
  }
}

const job = parse(process.argv[2])
const result: WorkerResult = E.isLeft(job) ? { ok: false, unavailable: false, reason: `bad job: ${job.left}` } : await run(job.right)
process.stdout.write(`${JSON.stringify(result)}\n`)
