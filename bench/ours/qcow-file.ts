// Worker job: one request stream through makeQcow(FileBlock) on an image file.
import * as E from 'fp-ts/lib/Either.js'
import type { QcowDevice } from '../../src/qcow/api.js'
import type { QcowFileJob, WorkerResult } from '../spec.js'
import { describeAny } from './describe.js'
import { loadFileBlock, loadMakeQcow } from './engine.js'
import { profiled } from './profiler.js'
import { laneBuffers, runStream } from './queue.js'

const failed = (reason: string, unavailable = false): WorkerResult => ({ ok: false, unavailable, reason })

/** Opens (or creates) the image, runs the stream (timed), then flushes and disconnects (untimed, as qemu-img bench). */
export const runQcowFile = async (job: QcowFileJob): Promise<WorkerResult> => {
  const [makeQcow, fileBlock] = await Promise.all([loadMakeQcow(), loadFileBlock()])
  if (!makeQcow.ok) return failed(makeQcow.reason, true)
  if (!fileBlock.ok) return failed(fileBlock.reason, true)
  const Qcow = makeQcow.value(fileBlock.value as never)
  const base = await fileBlock.value.connect({ path: job.image, readOnly: job.readOnly, create: job.createBytes !== null })()
  if (E.isLeft(base)) return failed(`FileBlock.connect: ${describeAny(base.left)}`)
  const opened =
    job.createBytes === null
      ? await Qcow.connect(base.right, { readOnly: job.readOnly })()
      : await Qcow.create(base.right, { size: job.createBytes })()
  if (E.isLeft(opened)) return failed(`open: ${describeAny(opened.left)}`)
  const device: QcowDevice = opened.right
  const info = await device.getInfo()()
  if (E.isLeft(info)) return failed(`getInfo: ${describeAny(info.left)}`)
  const imageBytes = info.right.sizeSectors * info.right.sectorSize
  const buffers = laneBuffers(job.pattern, job.depth)
  const seconds = await profiled(job.profile, () => runStream(device, job.pattern, imageBytes, buffers, describeAny))
  if (E.isLeft(seconds)) return failed(seconds.left)
  const closed = await (job.readOnly ? device.disconnect() : async () => {
    const flushed = await device.flush()()
    return E.isLeft(flushed) ? flushed : device.disconnect()()
  })()
  if (E.isLeft(closed)) return failed(`close: ${describeAny(closed.left)}`)
  return { ok: true, seconds: [seconds.right], fsio: [] }
}
