// Concurrency primitives: a mutex, a lock over guest cluster ranges, and a tracker of in-flight reads.
import { RangeLock as SectorRangeLock } from '../../block/range-lock.js'

/** A FIFO mutex; uncontended acquisition costs no promise. */
export class Mutex {
  private locked = false
  private readonly waiters: Array<() => void> = []

  /** True while someone holds the mutex (nobody waits for it otherwise). */
  get held(): boolean {
    return this.locked
  }

  /** Acquires the mutex; await the result when it is a promise. */
  acquire(): Promise<void> | undefined {
    if (!this.locked) {
      this.locked = true
      return undefined
    }
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  /** Releases the mutex, handing it to the next waiter. */
  release(): void {
    const next = this.waiters.shift()
    if (next === undefined) this.locked = false
    else next()
  }

  /** Runs `body` holding the mutex. */
  async run<A>(body: () => Promise<A>): Promise<A> {
    const wait = this.acquire()
    if (wait !== undefined) await wait
    try {
      return await body()
    } finally {
      this.release()
    }
  }
}

/** Exclusive locks over half-open ranges of guest clusters; overlapping holders run one at a time, in arrival order. */
export class RangeLock {
  private readonly lock = new SectorRangeLock()

  /**
   * Holds `[start, end)` once no earlier holder or waiter overlaps it and returns the release
   * function; without a conflict it is returned at once (no promise).
   */
  acquire(start: number, end: number): (() => void) | Promise<() => void> {
    return this.lock.take(start, end, true)
  }
}

/** Counts reads in flight, by epoch, so freed clusters are reused only after the reads that may still use them end. */
export class ReadTracker {
  private epoch = 0
  /** Reads in flight that began in the current epoch (kept apart from the map: the common case). */
  private current = 0
  /** Reads in flight per earlier epoch. */
  private readonly earlier = new Map<number, number>()
  private readonly waiters = new Map<number, Array<() => void>>()

  /** Registers a read starting now; pass the result to `end` when it finishes. */
  begin(): number {
    this.current++
    return this.epoch
  }

  /** Registers the read `body` for its duration. */
  async track<A>(body: Promise<A>): Promise<A> {
    const epoch = this.begin()
    try {
      return await body
    } finally {
      this.end(epoch)
    }
  }

  /** Ends a read registered by `begin`. */
  end(epoch: number): void {
    if (epoch === this.epoch) {
      this.current--
      return
    }
    const left = (this.earlier.get(epoch) ?? 1) - 1
    if (left > 0) {
      this.earlier.set(epoch, left)
      return
    }
    this.earlier.delete(epoch)
    const waiting = this.waiters.get(epoch)
    if (waiting !== undefined) {
      this.waiters.delete(epoch)
      for (const wake of waiting) wake()
    }
  }

  /** Resolves when every read in flight now has finished (reads started later are not waited for). */
  async quiesce(): Promise<void> {
    if (this.current > 0) this.earlier.set(this.epoch, this.current)
    this.current = 0
    this.epoch++
    for (const epoch of [...this.earlier.keys()]) {
      // An epoch may have ended while the loop waited for an earlier one.
      if (!this.earlier.has(epoch)) continue
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(epoch) ?? []
        list.push(resolve)
        this.waiters.set(epoch, list)
      })
    }
  }
}
