// A lock over ranges of sectors, so overlapping requests run one after another and each behaves atomically.

interface Holder {
  readonly start: number
  readonly end: number
  readonly exclusive: boolean
  readonly released: Promise<void>
}

/**
 * Orders overlapping requests: a request waits for every earlier request on an overlapping range
 * unless both only read (shared). Requests on disjoint ranges never wait. Waiting only on earlier
 * arrivals keeps it first-come first-served and free of deadlocks.
 */
export class RangeLock {
  private readonly holders = new Set<Holder>()

  /**
   * Takes the range `[start, end)` (shared for reads, exclusive for writes) and resolves, once every
   * earlier conflicting holder has let go, with the function that releases it.
   */
  async acquire(start: number, end: number, exclusive: boolean): Promise<() => void> {
    const earlier: Promise<void>[] = []
    for (const h of this.holders) {
      if (h.start < end && start < h.end && (exclusive || h.exclusive)) earlier.push(h.released)
    }
    let release!: () => void
    const holder: Holder = { start, end, exclusive, released: new Promise<void>((resolve) => (release = resolve)) }
    this.holders.add(holder)
    if (earlier.length > 0) await Promise.all(earlier)
    return () => {
      this.holders.delete(holder)
      release()
    }
  }

  /** Runs `run` while holding `[start, end)`, releasing it however `run` ends. */
  async with<A>(start: number, end: number, exclusive: boolean, run: () => Promise<A>): Promise<A> {
    const release = await this.acquire(start, end, exclusive)
    try {
      return await run()
    } finally {
      release()
    }
  }
}
