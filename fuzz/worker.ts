// The fuzz worker process: runs each image it is sent through `exercise` and reports the outcome with the
// peak memory it used. The parent enforces the time limit (by killing this process) and the heap cap.
import { exercise, type CaseOutcome } from './exercise.js'

/** A case sent by the parent. */
export interface CaseRequest {
  readonly id: number
  readonly image: Uint8Array
  /** Peak growth of heap plus array buffers allowed, in bytes. */
  readonly memoryLimit: number
}

/** The worker's answer. */
export interface CaseReply {
  readonly id: number
  readonly outcome: CaseOutcome
  readonly peakBytes: number
  readonly ms: number
}

const used = (): number => {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const collect = (globalThis as { gc?: () => void }).gc ?? (() => undefined)

/** Rejections nobody handled during the current case (Node would otherwise end the process after the reply). */
let unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => void unhandled.push(reason))
const describe = (reason: unknown): string => (reason instanceof Error ? `${reason.name}: ${reason.message}` : JSON.stringify(reason) ?? String(reason))

process.on('message', (message: CaseRequest) => {
  void (async () => {
    collect()
    const baseline = used()
    let peak = 0
    const sample = (): void => {
      peak = Math.max(peak, used() - baseline)
    }
    const sampler = setInterval(sample, 10)
    const started = performance.now()
    unhandled = []
    let outcome = await exercise(message.image)
    // Let Node report this case's unhandled rejections before answering.
    await new Promise((resolve) => setImmediate(resolve))
    sample()
    clearInterval(sampler)
    if (outcome.failure === undefined && unhandled.length > 0) {
      outcome = { ...outcome, failure: `unhandled rejection: ${describe(unhandled[0])}` }
    }
    if (outcome.failure === undefined && peak > message.memoryLimit) {
      outcome = { ...outcome, failure: `memory: ${Math.round(peak / 1048576)} MiB above the baseline` }
    }
    const reply: CaseReply = { id: message.id, outcome, peakBytes: peak, ms: performance.now() - started }
    process.send?.(reply)
  })()
})
process.send?.({ ready: true })
