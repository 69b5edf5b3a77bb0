// Runs fuzz cases in a child process with a heap cap and a watchdog: a case that hangs, crashes the
// process or grows its memory past the limit is reported as a failure and the worker is restarted.
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { CaseOutcome } from './exercise.js'
import type { CaseReply, CaseRequest } from './worker.js'

/** Limits of one case. */
export interface CaseLimits {
  readonly timeoutMs: number
  /** Growth of heap plus array buffers allowed inside the worker. */
  readonly memoryBytes: number
  /** The worker's V8 old-space cap, in MiB. */
  readonly heapMb: number
}

/** Default limits: 5 s, 256 MiB of growth, a 512 MiB heap. */
export const DEFAULT_LIMITS: CaseLimits = { timeoutMs: 5000, memoryBytes: 256 * 1024 * 1024, heapMb: 512 }

/** What running one case gave. */
export interface CaseResult {
  readonly outcome: CaseOutcome
  readonly ms: number
  readonly peakBytes: number
}

const rssOf = (pid: number): number => {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096
  } catch {
    return 0
  }
}

/** A restartable worker process running `workerPath` (the compiled fuzz/worker.js). */
export class FuzzPool {
  private child: ChildProcess | undefined
  private ready: Promise<void> | undefined
  private next = 0
  /** The end of the current worker's standard error, quoted when it dies. */
  private stderr = ''

  constructor(
    private readonly workerPath: string,
    private readonly limits: CaseLimits = DEFAULT_LIMITS,
  ) {}

  private start(): Promise<void> {
    if (this.ready !== undefined) return this.ready
    const child = fork(this.workerPath, [], {
      execArgv: [`--max-old-space-size=${this.limits.heapMb}`, '--expose-gc'],
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    this.stderr = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-2000)
    })
    this.child = child
    this.ready = new Promise((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) => reject(new Error(`fuzz worker exited at start with ${code}`)))
    })
    return this.ready
  }

  private stop(): void {
    const child = this.child
    this.child = undefined
    this.ready = undefined
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL')
  }

  /** Runs `image` as one case; never rejects once the worker has started. */
  async run(image: Uint8Array): Promise<CaseResult> {
    await this.start()
    const child = this.child as ChildProcess
    const id = this.next++
    const started = performance.now()
    return new Promise<CaseResult>((resolve) => {
      let settled = false
      const finish = (result: CaseResult, restart: boolean): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        clearInterval(watch)
        child.off('message', onMessage)
        child.off('exit', onExit)
        if (restart) this.stop()
        resolve(result)
      }
      const failed = (failure: string): CaseResult => ({ outcome: { calls: 0, lefts: 0, opened: false, failure }, ms: performance.now() - started, peakBytes: 0 })
      const onMessage = (reply: CaseReply): void => {
        if (reply.id === id) finish({ outcome: reply.outcome, ms: reply.ms, peakBytes: reply.peakBytes }, false)
      }
      const onExit = (code: number | null, signal: string | null): void =>
        finish(failed(`worker died (exit ${code}, signal ${signal}): out of memory or a crash: ${this.stderr.trim().split('\n').slice(0, 12).join(' | ')}`), true)
      const timer = setTimeout(() => finish(failed(`timeout: no value after ${this.limits.timeoutMs} ms`), true), this.limits.timeoutMs)
      const watch = setInterval(() => {
        const rss = child.pid === undefined ? 0 : rssOf(child.pid)
        if (rss > (this.limits.heapMb + 1024) * 1048576) finish(failed(`memory: worker RSS ${Math.round(rss / 1048576)} MiB`), true)
      }, 100)
      child.on('message', onMessage)
      child.on('exit', onExit)
      const request: CaseRequest = { id, image, memoryLimit: this.limits.memoryBytes }
      child.send(request)
    })
  }

  /** Ends the worker process. */
  close(): void {
    this.stop()
  }
}
