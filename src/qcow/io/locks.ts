// Concurrency primitives: a mutex, a lock over guest cluster ranges, and a tracker of in-flight reads.

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
