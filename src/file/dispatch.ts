// The request queue of a FileBlock: small requests run synchronously, large ones go to the thread pool a bounded number at a time, adjacent queued ones merged into one call.
import { readPool, readSync, SYNC_MAX_BYTES, writePool, writeSync, type Done } from './io.js'

/** How a FileBlock issues its reads and writes. */
export interface DispatchLimits {
  /** Requests of at most this many bytes run synchronously, at once. */
  readonly syncMaxBytes: number
  /** Most thread-pool calls of one device in flight at once; later requests wait in the queue. */
  readonly maxInFlight: number
  /** Most of those calls that write. */
  readonly maxWritesInFlight: number
  /** Queued requests are merged into one call up to this many bytes. */
  readonly maxBatchBytes: number
  /** Queued requests are merged into one call up to this many buffers (the system's IOV_MAX). */
  readonly maxBatchBuffers: number
}

/**
 * The limits of every FileBlock. Four calls in flight match libuv's default pool of four threads
 * (more only wait inside libuv, where they can no longer be merged). Batches of up to 1 MiB turn 64
 * sequential 64 KiB requests in flight into a few calls: on tmpfs this cut the CPU time of the
 * sequential 64 KiB bench workloads by 20-35% and the main thread's share by 35-45%; two calls in
 * flight, eight, or batches of 256 KiB did worse, 2 x 2 MiB or 4 x 4 MiB no better
 * (bench/analysis.md). At most two of the calls write: Linux serializes buffered writes to one file
 * (the inode lock), so more writers only wait, spinning on the lock: on tmpfs two writers in flight
 * instead of four used 10-16% less CPU at the same or better throughput. 1024 is Linux's IOV_MAX.
 */
export const DEFAULT_LIMITS: DispatchLimits = {
  syncMaxBytes: SYNC_MAX_BYTES,
  maxInFlight: 4,
  maxWritesInFlight: 2,
  maxBatchBytes: 1024 * 1024,
  maxBatchBuffers: 1024,
}

/** A request waiting in the queue. */
interface Queued {
  readonly write: boolean
  readonly position: number
  readonly bytes: number
  readonly buffers: ReadonlyArray<Uint8Array>
  readonly resolve: () => void
  readonly reject: (cause: unknown) => void
}

/** Runs one thread-pool call for `bytes` bytes of `buffers` at `position`, then `finished`. */
const pooled = (fd: number, write: boolean, buffers: ReadonlyArray<Uint8Array>, position: number, bytes: number, finished: Done): void =>
  write ? writePool(fd, buffers, position, bytes, finished) : readPool(fd, buffers, position, bytes, finished)

/** Runs `request` alone on the thread pool; resolves with its own outcome. */
const alone = (fd: number, request: Queued): Promise<void> =>
  new Promise((resolve) =>
    pooled(fd, request.write, request.buffers, request.position, request.bytes, (error) => {
      if (error === null) request.resolve()
      else request.reject(error)
      resolve()
    }),
  )

/**
 * Issues the reads and writes of one file descriptor. The caller must hold the range of each
 * request (the FileBlock's range lock), so no two requests in the queue overlap unless both read:
 * they may run in any order and be merged. A request of at most `syncMaxBytes` runs synchronously
 * at once. A larger one runs on the thread pool, at most `maxInFlight` calls at a time; while they
 * run, later requests queue, and each call takes the oldest queued request together with every
 * queued request of the same kind that continues it on either side (up to `maxBatchBytes` and
 * `maxBatchBuffers`), as one `readv`/`writev`. When a merged call fails, each of its requests is
 * retried alone, so one bad range fails only the requests that cover it, each with its own error.
 */
export class Dispatcher {
  private readonly queue: Queued[] = []
  private inFlight = 0
  private writesInFlight = 0

  constructor(
    private readonly fd: number,
    private readonly limits: DispatchLimits,
  ) {}

  /**
   * Reads (`write` false) or writes `bytes` bytes of `buffers` at byte `position`. A request run
   * synchronously returns undefined once done (or throws the system error); any other returns a
   * promise that settles when it is done.
   */
  submit(write: boolean, buffers: ReadonlyArray<Uint8Array>, position: number, bytes: number): Promise<void> | undefined {
    if (bytes <= this.limits.syncMaxBytes) {
      if (write) writeSync(this.fd, buffers, position, bytes)
      else readSync(this.fd, buffers, position, bytes)
      return undefined
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ write, position, bytes, buffers, resolve, reject })
      this.pump()
    })
  }

  /** Starts calls for queued requests while fewer than `maxInFlight` run (writes: `maxWritesInFlight`). */
  private pump(): void {
    while (this.inFlight < this.limits.maxInFlight && this.queue.length > 0) {
      const first = this.writesInFlight < this.limits.maxWritesInFlight ? 0 : this.queue.findIndex((request) => !request.write)
      if (first < 0) return
      const batch = this.take(first)
      this.inFlight++
      if (batch[0].write) this.writesInFlight++
      this.start(batch)
    }
  }

  /** Frees the slot of a finished call and starts the next. */
  private finish(write: boolean): void {
    this.inFlight--
    if (write) this.writesInFlight--
    this.pump()
  }

  /** Removes queued request `first` and every queued request that extends it contiguously, in file order. */
  private take(first: number): Queued[] {
    const head = this.queue.splice(first, 1)[0]
    const batch = [head]
    let start = head.position
    let end = head.position + head.bytes
    let bytes = head.bytes
    let buffers = head.buffers.length
    let grown = true
    while (grown) {
      grown = false
      for (let i = 0; i < this.queue.length; i++) {
        const next = this.queue[i]
        if (next.write !== head.write || bytes + next.bytes > this.limits.maxBatchBytes) continue
        if (buffers + next.buffers.length > this.limits.maxBatchBuffers) continue
        if (next.position === end) {
          batch.push(next)
          end += next.bytes
        } else if (next.position + next.bytes === start) {
          batch.unshift(next)
          start = next.position
        } else continue
        bytes += next.bytes
        buffers += next.buffers.length
        this.queue.splice(i--, 1)
        grown = true
      }
    }
    return batch
  }

  /** Runs a batch as one call; if a merged call fails, retries its requests one by one. */
  private start(batch: ReadonlyArray<Queued>): void {
    const head = batch[0]
    if (batch.length === 1) {
      pooled(this.fd, head.write, head.buffers, head.position, head.bytes, (error) => {
        if (error === null) head.resolve()
        else head.reject(error)
        this.finish(head.write)
      })
      return
    }
    let bytes = 0
    const buffers: Uint8Array[] = []
    for (const request of batch) {
      bytes += request.bytes
      for (const buffer of request.buffers) buffers.push(buffer)
    }
    pooled(this.fd, head.write, buffers, head.position, bytes, (error) => {
      if (error === null) {
        for (const request of batch) request.resolve()
        this.finish(head.write)
      } else void this.retry(batch)
    })
  }

  /** Runs each request of a failed batch alone, in turn, then frees the batch's slot. */
  private async retry(batch: ReadonlyArray<Queued>): Promise<void> {
    for (const request of batch) await alone(this.fd, request)
    this.finish(batch[0].write)
  }
}
