// Worker job: the request streams of workloads 1-4 through makeQcow(RamDisk), all in this process.
import * as E from 'fp-ts/lib/Either.js'
import type { QcowRamDiskJob, WorkerResult } from '../spec.js'
import { describeAny } from './describe.js'
import { loadMakeQcow, loadRamDisk } from './engine.js'
import { profiled } from './profiler.js'
import { laneBuffers, runStream } from './queue.js'

/** Room the RamDisk needs beyond the virtual size for qcow2 metadata (L2 tables, refcounts): generous and sparse. */
const metadataRoom = (sizeBytes: number): number => Math.ceil(sizeBytes / 64 / 512) * 512 + 64 * 1024 * 1024

/** Creates a qcow2 image on a fresh RamDisk and times each stream in turn on it. */
export const runQcowRamDisk = async (job: QcowRamDiskJob): Promise<WorkerResult> => {
  const [makeQcow, ramDisk] = await Promise.all([loadMakeQcow(), loadRamDisk()])
  if (!makeQcow.ok) return { ok: false, unavailable: true, reason: makeQcow.reason }
  if (!ramDisk.ok) return { ok: false, unavailable: true, reason: ramDisk.reason }
  const base = await ramDisk.value.connect({ size: job.sizeBytes + metadataRoom(job.sizeBytes) })()
  if (E.isLeft(base)) return { ok: false, unavailable: false, reason: `RamDisk.connect: ${describeAny(base.left)}` }
  const opened = await makeQcow.value(ramDisk.value as never).create(base.right, { size: job.sizeBytes })()
  if (E.isLeft(opened)) return { ok: false, unavailable: false, reason: `create: ${describeAny(opened.left)}` }
  const seconds: number[] = []
  const buffers = job.patterns.map((pattern) => laneBuffers(pattern, job.depth))
  const failure = await profiled(job.profile, async () => {
    for (const [index, pattern] of job.patterns.entries()) {
      const elapsed = await runStream(opened.right, pattern, job.sizeBytes, buffers[index], describeAny)
      if (E.isLeft(elapsed)) return elapsed.left
      seconds.push(elapsed.right)
    }
    return undefined
  })
  if (failure !== undefined) return { ok: false, unavailable: false, reason: failure }
  return { ok: true, seconds, fsio: [] }
}
