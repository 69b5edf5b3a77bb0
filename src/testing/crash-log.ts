// The crash recorder's operation log and the replay that turns a prefix of it into a possible post-crash image.
import { seededRandom } from './prng.js'
import { SparseImage } from './sparse-image.js'

/**
 * A recorded write, discard, zero write, or the zeroing of sectors cut off by a shrinking resize.
 * `data` holds a copy of the written bytes, or `null` for zeroes. A write is recorded when issued;
 * `completedAt` is the recorder's clock when it succeeded (`Infinity` while in flight or after an
 * I/O failure, so it is never durable, though it may have landed). A write the device refused
 * outright (bad range, read-only, disconnected) is `rejected` and changes nothing.
 */
export interface RecordedWrite {
  readonly kind: 'write'
  readonly via: 'write' | 'discard' | 'writeZeroes' | 'resize'
  readonly sector: number
  readonly sectors: number
  readonly data: Uint8Array | null
  readonly issuedAt: number
  readonly completedAt: number
  readonly rejected: boolean
}

/** A flush that succeeded: it made durable every write that completed before `startedAt`. */
export interface RecordedFlush {
  readonly kind: 'flush'
  readonly startedAt: number
  readonly completedAt: number
}

/** A resize that succeeded; crash states take the new size at once. */
export interface RecordedResize {
  readonly kind: 'resize'
  readonly sizeSectors: number
  readonly completedAt: number
}

/** One entry of the recorder's log. Cut points lie before the first entry and after each entry. */
export type RecordedOp = RecordedWrite | RecordedFlush | RecordedResize

/**
 * Which of the writes not covered by a completed flush survive a crash: `'none'`, `'all'`,
 * `'random'` (each sector of each write kept or lost independently: torn writes) or
 * `'randomWrites'` (each write kept or lost whole).
 */
export type KeepStrategy = 'none' | 'all' | 'random' | 'randomWrites'

/** A possible device state after a power cut: the image, its size, and how uncertain it was. */
export interface CrashState {
  readonly cutAt: number
  readonly sizeSectors: number
  readonly image: SparseImage
  /** Writes issued before the cut and not covered by a completed flush (each sector kept or lost). */
  readonly unflushedWrites: number
}

/** Mixes a seed and a cut point into one 32-bit seed. */
const mixSeed = (seed: number, cutAt: number): number => (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(cutAt + 1, 0x85ebca6b)) >>> 0

/**
 * Replays a log over an initial image, cut point by cut point in increasing order. It keeps the
 * durable image (the initial image plus every write a completed flush covered) up to date and, for
 * each cut, lays the surviving unflushed writes over a cheap clone of it.
 */
export class CrashReplay {
  private readonly durable: SparseImage
  private sizeSectors: number
  private position = 0
  private governingFlushStart = -Infinity
  private unflushed: number[] = []

  constructor(
    initial: SparseImage,
    initialSizeSectors: number,
    private readonly log: ReadonlyArray<RecordedOp>,
  ) {
    this.durable = initial.clone()
    this.sizeSectors = initialSizeSectors
  }

  /** The number of log entries replayed so far (the current cut point). */
  at(): number {
    return this.position
  }

  /** Replays entries up to cut point `cutAt` (at least the current one, at most the log length). */
  advanceTo(cutAt: number): void {
    while (this.position < cutAt && this.position < this.log.length) {
      const index = this.position++
      const op = this.log[index]
      if (op.kind === 'write') {
        if (!op.rejected) this.unflushed.push(index)
      } else if (op.kind === 'resize') {
        this.sizeSectors = op.sizeSectors
      } else if (op.startedAt > this.governingFlushStart) {
        this.governingFlushStart = op.startedAt
        this.settle()
      }
    }
  }

  /** The state at the current cut point with the unflushed writes chosen by `keep` (and `seed` for `random`). */
  state(keep: KeepStrategy, seed: number): CrashState {
    const image = this.durable.clone()
    const random = seededRandom(mixSeed(seed, this.position))
    for (const index of this.unflushed) {
      const w = this.log[index] as RecordedWrite
      if (keep === 'all') image.write(w.sector, w.sectors, w.data)
      else if (keep === 'random') this.writeSome(image, w, random)
      else if (keep === 'randomWrites' && random() < 0.5) image.write(w.sector, w.sectors, w.data)
    }
    return { cutAt: this.position, sizeSectors: this.sizeSectors, image, unflushedWrites: this.unflushed.length }
  }

  /** Moves the writes the governing flush covers into the durable image, in log order. */
  private settle(): void {
    const still: number[] = []
    for (const index of this.unflushed) {
      const w = this.log[index] as RecordedWrite
      if (w.completedAt < this.governingFlushStart) this.durable.write(w.sector, w.sectors, w.data)
      else still.push(index)
    }
    this.unflushed = still
  }

  /** Applies each sector of `w` with probability one half (a torn write). */
  private writeSome(image: SparseImage, w: RecordedWrite, random: () => number): void {
    const size = image.sectorSize
    for (let i = 0; i < w.sectors; i++) {
      if (random() < 0.5) image.write(w.sector + i, 1, w.data === null ? null : w.data.subarray(i * size, (i + 1) * size))
    }
  }
}
