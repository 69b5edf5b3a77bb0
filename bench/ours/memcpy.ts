// Worker job: the plain memory-copy baseline, each stream as synchronous copies between a buffer and a flat array.
import type { MemcpyJob, WorkerResult } from '../spec.js'
import { patternBuffer, requestOffset } from './queue.js'

/** Times each stream as `Uint8Array.set` copies into (writes) or out of (reads) one flat array of the image size. */
export const runMemcpy = (job: MemcpyJob): WorkerResult => {
  const image = new Uint8Array(job.sizeBytes)
  const seconds: number[] = []
  for (const pattern of job.patterns) {
    const buffer = patternBuffer(pattern.requestBytes, 0)
    const started = performance.now()
    for (let index = 0; index < pattern.count; index++) {
      const offset = requestOffset(pattern, job.sizeBytes, index)
      if (pattern.write) image.set(buffer, offset)
      else buffer.set(image.subarray(offset, offset + pattern.requestBytes))
    }
    seconds.push((performance.now() - started) / 1000)
  }
  return { ok: true, seconds, fsio: [] }
}
