// A lock over ranges of sectors, so overlapping requests run one after another and each behaves atomically.

/** A request's hold on a range, from `take` to `release`. */
export interface Holder {
  readonly start: number
  readonly end: number
  readonly exclusive: boolean
  /** Later holders waiting for this one (created on the first). */
  waiters: Holder[] | undefined
  /** How many earlier conflicting holders this one still waits for. */
  pending: number
  /** Called when `pending` reaches zero (set only while waiting). */
  wake: (() => void) | undefined
}

/**
 * Orders overlapping requests: a request waits for every earlier request on an overlapping range
 * unless both only read (shared). Requests on disjoint ranges never wait. Waiting only on earlier
 * arrivals keeps it first-come first-served and free of deadlocks. A range that conflicts with no
 * holder is granted without waiting for a promise.
 */
export class RangeLock {
  private readonly holders = new Set<Holder>()

  /**
   * Takes the range `[start, end)` (shared for reads, exclusive for writes) and resolves, once every
   * earlier conflicting holder has let go, with the function that releases it.
   */
  async acquire(start: number, end: number, exclusive: boolean): Promise<() => void> {
    const holder = this.take(start, end, exclusive)
    if (holder.pending > 0) await this.granted(holder)
    return () => this.release(holder)
  }

  /** Runs `run` while holding `[start, end)`, releasing it however `run` ends. */
  async with<A>(start: number, end: number, exclusive: boolean, run: () => Promise<A>): Promise<A> {
    const holder = this.take(start, end, exclusive)
    try {
      if (holder.pending > 0) await this.granted(holder)
      return await run()
    } finally {
      this.release(holder)
    }
  }

  /**
   * Takes the range `[start, end)` behind every earlier conflicting holder. The range is held once
   * `holder.pending` is 0, or else once `granted(holder)` resolves (call it at once); every holder
   * must be released with `release`.
   */
  take(start: number, end: number, exclusive: boolean): Holder {
    const holder: Holder = { start, end, exclusive, waiters: undefined, pending: 0, wake: undefined }
    for (const h of this.holders) {
      if (h.start < end && start < h.end && (exclusive || h.exclusive)) {
        if (h.waiters === undefined) h.waiters = [holder]
        else h.waiters.push(holder)
        holder.pending++
      }
    }
    this.holders.add(holder)
    return holder
  }

  /** Resolves once every holder `holder` waits for has let go. */
  granted(holder: Holder): Promise<void> {
    return new Promise<void>((resolve) => (holder.wake = resolve))
  }

  /** Lets go of `holder`, waking the holders for which it was the last one they waited for. */
  release(holder: Holder): void {
    if (!this.holders.delete(holder) || holder.waiters === undefined) return
    for (const waiter of holder.waiters) {
      waiter.pending--
      if (waiter.pending === 0 && waiter.wake !== undefined) waiter.wake()
    }
  }
}
