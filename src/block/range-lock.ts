// A lock over ranges of sectors, so overlapping requests run one after another and each behaves atomically.

/** A holder or waiter of the lock. */
interface Entry {
  readonly start: number
  readonly end: number
  readonly exclusive: boolean
  /** Earlier conflicting entries not released yet. */
  blockers: number
  /** Later entries waiting for this one (made on the first). */
  dependents: Entry[] | undefined
  /** Hands the range over once `blockers` reaches 0 (set while the entry waits). */
  grant: (() => void) | undefined
}

/** Runs `run` (started at once), then `release` however it ends. */
const runReleasing = <A>(run: () => Promise<A>, release: () => void): Promise<A> => {
  let running: Promise<A>
  try {
    running = run()
  } catch (e) {
    release()
    return Promise.reject(e)
  }
  return running.finally(release)
}

/**
 * Orders overlapping requests: a request waits for every earlier request on an overlapping range
 * unless both only read (shared). Requests on disjoint ranges never wait. Waiting only on earlier
 * arrivals keeps it first-come first-served and free of deadlocks. Each release counts down the
 * requests waiting for it, so a release wakes only those it lets run.
 */
export class RangeLock {
  /** Holders and waiters, in arrival order. */
  private readonly entries: Entry[] = []

  /**
   * Takes the range `[start, end)` (shared or exclusive): returns the function that releases it at
   * once when no earlier request conflicts, else a promise of it, resolved once they have all let go.
   */
  take(start: number, end: number, exclusive: boolean): (() => void) | Promise<() => void> {
    const entry: Entry = { start, end, exclusive, blockers: 0, dependents: undefined, grant: undefined }
    for (const e of this.entries) {
      if (e.start < end && start < e.end && (exclusive || e.exclusive)) {
        entry.blockers++
        if (e.dependents === undefined) e.dependents = [entry]
        else e.dependents.push(entry)
      }
    }
    this.entries.push(entry)
    const release = (): void => this.release(entry)
    if (entry.blockers === 0) return release
    return new Promise((resolve) => {
      entry.grant = () => resolve(release)
    })
  }

  /**
   * Takes the range `[start, end)` (shared for reads, exclusive for writes) and resolves, once every
   * earlier conflicting holder has let go, with the function that releases it.
   */
  async acquire(start: number, end: number, exclusive: boolean): Promise<() => void> {
    return this.take(start, end, exclusive)
  }

  /** Runs `run` while holding `[start, end)`, releasing it however `run` ends. */
  with<A>(start: number, end: number, exclusive: boolean, run: () => Promise<A>): Promise<A> {
    const taken = this.take(start, end, exclusive)
    return typeof taken === 'function' ? runReleasing(run, taken) : taken.then((release) => runReleasing(run, release))
  }

  private release(entry: Entry): void {
    const at = this.entries.indexOf(entry)
    if (at < 0) return
    this.entries.splice(at, 1)
    if (entry.dependents === undefined) return
    for (const d of entry.dependents) {
      d.blockers--
      if (d.blockers === 0) d.grant?.()
    }
  }
}
