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
  readonly done: Promise<void>
  readonly release: () => void
}

/** Exclusive locks over half-open ranges of guest clusters; overlapping holders run one at a time. */
export class RangeLock {
  private readonly held: HeldRange[] = []

  /** Waits until `[start, end)` overlaps no held range, then holds it; returns the release function. */
  async acquire(start: number, end: number): Promise<() => void> {
    for (;;) {
      const conflict = this.held.find((h) => h.start < end && start < h.end)
      if (conflict === undefined) break
      await conflict.done
    }
    let release!: () => void
    const done = new Promise<void>((resolve) => (release = resolve))
    const entry: HeldRange = { start, end, done, release }
    this.held.push(entry)
    return () => {
      this.held.splice(this.held.indexOf(entry), 1)
      entry.release()
    }
  }
}

/** Counts reads in flight so freed clusters are reused only after reads that may still use them end. */
export class ReadTracker {
  private readonly active = new Set<Promise<unknown>>()

  /** Registers a read for the duration of `body`. */
  track<A>(body: Promise<A>): Promise<A> {
    this.active.add(body)
    const remove = (): void => void this.active.delete(body)
    body.then(remove, remove)
    return body
  }

  /** Resolves when every read in flight now has finished. */
  async quiesce(): Promise<void> {
    if (this.active.size === 0) return
    await Promise.allSettled([...this.active])
  }
}
