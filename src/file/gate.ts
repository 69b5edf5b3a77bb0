// A shared/exclusive gate: requests run side by side, while a shrink or a disconnect runs alone.

/**
 * Lets any number of shared sections run at once and an exclusive section run with nothing else:
 * an exclusive section waits for the shared ones in flight, and later sections wait for it.
 */
export class Gate {
  private active = 0
  private closed: Promise<void> | undefined
  private idle: (() => void) | undefined

  /** Runs `run` alongside other shared sections, after any exclusive section queued before it. */
  async shared<A>(run: () => Promise<A>): Promise<A> {
    const entering = this.enter()
    if (entering !== undefined) await entering
    try {
      return await run()
    } finally {
      this.leave()
    }
  }

  /**
   * Enters a shared section: at once (returning undefined) when no exclusive section runs or waits,
   * otherwise through the returned promise, after them. Every entry must be matched by `leave`.
   */
  enter(): Promise<void> | undefined {
    if (this.closed !== undefined) return this.enterLater()
    this.active++
    return undefined
  }

  /** Leaves a shared section entered with `enter`. */
  leave(): void {
    this.active--
    if (this.active === 0 && this.idle !== undefined) this.idle()
  }

  private async enterLater(): Promise<void> {
    while (this.closed !== undefined) await this.closed
    this.active++
  }

  /** Runs `run` alone: after the sections in flight finish, and before any section that arrives later. */
  async exclusive<A>(run: () => Promise<A>): Promise<A> {
    while (this.closed !== undefined) await this.closed
    let open!: () => void
    this.closed = new Promise<void>((resolve) => (open = resolve))
    try {
      if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve))
      this.idle = undefined
      return await run()
    } finally {
      this.closed = undefined
      open()
    }
  }
}
