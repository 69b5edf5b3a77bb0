// Concurrency primitives: a mutex, a lock over guest cluster ranges, and a tracker of in-flight reads.

/** A FIFO mutex; uncontended acquisition costs no promise. */
export class Mutex {
  private locked = false
  private readonly waiters: Array<() => void> = []

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

interface HeldRange {
  readonly start: number
  readonly end: number
  /** Callers waiting for this range to be released (created on first conflict). */
  waiters?: Array<() => void>
}

/** Exclusive locks over half-open ranges of guest clusters; overlapping holders run one at a time. */
export class RangeLock {
  private readonly held: HeldRange[] = []

  /**
   * Holds `[start, end)` once it overlaps no held range and returns the release function; without a
   * conflict it is returned at once (no promise).
   */
  acquire(start: number, end: number): (() => void) | Promise<() => void> {
    const conflict = this.conflict(start, end)
    return conflict === undefined ? this.hold(start, end) : this.wait(conflict, start, end)
  }

  private conflict(start: number, end: number): HeldRange | undefined {
    for (const h of this.held) if (h.start < end && start < h.end) return h
    return undefined
  }

  private async wait(first: HeldRange, start: number, end: number): Promise<() => void> {
    let conflict: HeldRange | undefined = first
    while (conflict !== undefined) {
      const blocking: HeldRange = conflict
      await new Promise<void>((resolve) => (blocking.waiters ??= []).push(resolve))
      conflict = this.conflict(start, end)
    }
    return this.hold(start, end)
  }

  private hold(start: number, end: number): () => void {
    const entry: HeldRange = { start, end }
    this.held.push(entry)
    return () => {
      this.held.splice(this.held.indexOf(entry), 1)
      if (entry.waiters !== undefined) for (const wake of entry.waiters) wake()
    }
  }
}

/** Counts reads in flight, by epoch, so freed clusters are reused only after the reads that may still use them end. */
export class ReadTracker {
  private epoch = 0
  private readonly active = new Map<number, number>()
  private readonly waiters = new Map<number, Array<() => void>>()

  /** Registers a read starting now; pass the result to `end` when it finishes. */
  begin(): number {
    const epoch = this.epoch
    this.active.set(epoch, (this.active.get(epoch) ?? 0) + 1)
    return epoch
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
    const left = (this.active.get(epoch) ?? 1) - 1
    if (left > 0) {
      this.active.set(epoch, left)
      return
    }
    this.active.delete(epoch)
    const waiting = this.waiters.get(epoch)
    if (waiting !== undefined) {
      this.waiters.delete(epoch)
      for (const wake of waiting) wake()
    }
  }

  /** Resolves when every read in flight now has finished (reads started later are not waited for). */
  async quiesce(): Promise<void> {
    this.epoch++
    for (const epoch of [...this.active.keys()]) {
      if (epoch >= this.epoch) continue
      await new Promise<void>((resolve) => {
        const list = this.waiters.get(epoch) ?? []
        list.push(resolve)
        this.waiters.set(epoch, list)
      })
    }
  }
}
