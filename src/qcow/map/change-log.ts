// A bounded record of which entries of a table changed, so a derived index can follow without rescanning the table.

/** Entries remembered at most between two drains; past that only "something changed" is kept. */
const LIMIT = 4096

/** The indices of a table's entries changed since the last `drain`. */
export class ChangeLog {
  private indices: number[] = []
  private unknown = false

  /** Records that entry `index` changed. */
  note(index: number): void {
    if (this.unknown) return
    if (this.indices.length < LIMIT) this.indices.push(index)
    else this.noteAll()
  }

  /** Records a change the log cannot name (many entries, or the whole table). */
  noteAll(): void {
    this.unknown = true
    this.indices = []
  }

  /** True when nothing was recorded since the last drain. */
  get empty(): boolean {
    return !this.unknown && this.indices.length === 0
  }

  /** The indices recorded since the last drain (possibly repeated), or undefined when they are not all known; empties the log. */
  drain(): number[] | undefined {
    const out = this.unknown ? undefined : this.indices
    this.indices = []
    this.unknown = false
    return out
  }
}
