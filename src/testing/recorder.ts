// recorder(device): a BlockDevice wrapper that logs writes and flushes and yields every possible post-crash image.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts/lib/index.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import type { BlockDevice, BlockInfo } from '../block/device.js'
import { gather, isZero, totalBytes } from '../block/buffers.js'
import { countSectors } from '../block/validate.js'
import { crashImageOf, type CrashImage } from './crash-image.js'
import { CrashReplay, type KeepStrategy, type RecordedOp } from './crash-log.js'
import { SparseImage } from './sparse-image.js'

/** Options of `crashImage`: the cut point (0 to `operations()`) and which unflushed writes survive. */
export interface CrashImageOptions {
  readonly cutAt: number
  /** Default `'random'`. */
  readonly keep?: KeepStrategy
  /** Seed of the random strategies (default 0); each cut point mixes it with its own number. */
  readonly seed?: number
}

/** Options of `crashImages`: which cut points (default: every one, 0 to `operations()`), and as `crashImage`. */
export interface CrashImagesOptions {
  readonly cuts?: ReadonlyArray<number>
  readonly keep?: KeepStrategy
  readonly seed?: number
}

/** Crash options that do not decode, or a cut point past the log. */
export interface InvalidCrashOptions { readonly _tag: 'InvalidCrashOptions'; readonly reason: string }

/** A device wrapped by `recorder`: forwards everything (seeks too) and logs writes, discards, zero writes, resizes and flushes. */
export interface RecordingDevice<E> extends BlockDevice<E> {
  /** The number of recorded operations; cut points run from 0 to this number. */
  operations(): number
  /** The log itself (a live view; entries are in issue order, flushes at completion). */
  log(): ReadonlyArray<RecordedOp>
  /** One possible state of the device after a power cut at `cutAt`. */
  crashImage(options: CrashImageOptions): TE.TaskEither<E | InvalidCrashOptions, CrashImage>
  /**
   * Possible states at many cut points, computed lazily in increasing cut order as the result is
   * iterated; the log is fixed when the task runs. Memory grows with the data changed since the
   * last flush, not with the number of cut points.
   */
  crashImages(options?: CrashImagesOptions): TE.TaskEither<E | InvalidCrashOptions, Iterable<CrashImage>>
}

const Strategy = t.keyof({ none: null, all: null, random: null, randomWrites: null })
const CutPoint = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'CutPoint')
const Seed = t.refinement(t.number, Number.isFinite, 'Seed')
const ImageOptions = t.intersection([t.type({ cutAt: CutPoint }), t.partial({ keep: Strategy, seed: Seed })])
const ImagesOptions = t.partial({ cuts: t.readonlyArray(CutPoint), keep: Strategy, seed: Seed })

const decodeWith = <A>(codec: t.Decoder<unknown, A>, value: unknown): E.Either<InvalidCrashOptions, A> => {
  const decoded = codec.decode(value)
  return E.isRight(decoded) ? decoded : E.left({ _tag: 'InvalidCrashOptions', reason: PathReporter.report(decoded).join('; ') })
}

/** A log entry as the recorder mutates it while the operation runs. */
interface LiveWrite {
  readonly kind: 'write'
  readonly via: 'write' | 'discard' | 'writeZeroes' | 'resize'
  readonly sector: number
  readonly sectors: number
  readonly data: Uint8Array | null
  readonly issuedAt: number
  completedAt: number
  rejected: boolean
}

/** The device as it was when recording began. */
interface Initial {
  readonly image: SparseImage
  readonly sizeSectors: number
}

/** Bytes read per request while taking the initial snapshot. */
const SNAPSHOT_PIECE_BYTES = 1 << 20

const isIo = (e: unknown): boolean => typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === 'Io'

class RecorderImpl<E> implements RecordingDevice<E> {
  private readonly entries: Array<LiveWrite | RecordedOp> = []
  private clock = 0
  private initial: Initial | undefined
  private loading: Promise<E.Either<E, Initial>> | undefined
  private sizeSectors = 0
  private sectorSize = 0

  constructor(private readonly inner: BlockDevice<E>) {
    if (inner.discard !== undefined) {
      this.discard = (s, n) => this.mutation(() => this.zeroes('discard', s, n, () => inner.discard!(s, n)()))
    }
    if (inner.writeZeroes !== undefined) {
      this.writeZeroes = (s, n) => this.mutation(() => this.zeroes('writeZeroes', s, n, () => inner.writeZeroes!(s, n)()))
    }
    if (inner.resize !== undefined) this.resize = (size) => this.mutation(() => this.resizeTo(size, (s) => inner.resize!(s)))
    if (inner.seekMapped !== undefined && inner.seekUnmapped !== undefined) {
      this.seekMapped = (from) => inner.seekMapped!(from)
      this.seekUnmapped = (from) => inner.seekUnmapped!(from)
    }
  }

  declare discard?: (sector: number, sectors: number) => TE.TaskEither<E, void>
  declare writeZeroes?: (sector: number, sectors: number) => TE.TaskEither<E, void>
  declare resize?: (sizeSectors: number) => TE.TaskEither<E, void>
  declare seekMapped?: (fromSector: number) => TE.TaskEither<E, number>
  declare seekUnmapped?: (fromSector: number) => TE.TaskEither<E, number>

  operations(): number {
    return this.entries.length
  }

  log(): ReadonlyArray<RecordedOp> {
    return this.entries
  }

  getInfo(): TE.TaskEither<E, BlockInfo> {
    return this.inner.getInfo()
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<E, void> {
    return this.inner.read(sector, buffers)
  }

  disconnect(): TE.TaskEither<E, void> {
    return this.mutation(() => this.inner.disconnect()())
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<E, void> {
    return this.mutation(() => {
      const counted = countSectors(buffers, this.sectorSize)
      if (E.isLeft(counted) || !Number.isSafeInteger(sector) || sector < 0) return this.inner.write(sector, buffers)()
      const data = new Uint8Array(totalBytes(buffers))
      gather(buffers, data)
      return this.track(this.issue('write', sector, counted.right, data), this.inner.write(sector, buffers)())
    })
  }

  flush(): TE.TaskEither<E, void> {
    return this.mutation(async () => {
      const startedAt = this.clock++
      const flushed = await this.inner.flush()()
      if (E.isRight(flushed)) this.entries.push({ kind: 'flush', startedAt, completedAt: this.clock++ })
      return flushed
    })
  }

  crashImage(options: CrashImageOptions): TE.TaskEither<E | InvalidCrashOptions, CrashImage> {
    return async () => {
      const decoded = decodeWith(ImageOptions, options)
      if (E.isLeft(decoded)) return decoded
      const images = await this.crashImages({ ...decoded.right, cuts: [decoded.right.cutAt] })()
      if (E.isLeft(images)) return images
      const [image] = images.right
      return E.right(image)
    }
  }

  crashImages(options: CrashImagesOptions = {}): TE.TaskEither<E | InvalidCrashOptions, Iterable<CrashImage>> {
    return async () => {
      const decoded = decodeWith(ImagesOptions, options)
      if (E.isLeft(decoded)) return decoded
      const log: ReadonlyArray<RecordedOp> = this.entries.slice()
      const cuts = [...new Set(decoded.right.cuts ?? Array.from({ length: log.length + 1 }, (_, i) => i))].sort((a, b) => a - b)
      const last = cuts[cuts.length - 1]
      if (last !== undefined && last > log.length) {
        return E.left({ _tag: 'InvalidCrashOptions', reason: `cut point ${last} is past the ${log.length} recorded operations` })
      }
      const initial = await this.loadInitial()
      if (E.isLeft(initial)) return initial
      const { keep = 'random', seed = 0 } = decoded.right
      const { image, sizeSectors } = initial.right
      return E.right({
        *[Symbol.iterator]() {
          const replay = new CrashReplay(image, sizeSectors, log)
          for (const cut of cuts) {
            replay.advanceTo(cut)
            yield crashImageOf(replay.state(keep, seed))
          }
        },
      })
    }
  }

  /** Runs a mutating operation once the initial snapshot exists (taking it first if needed). */
  private mutation(run: () => Promise<E.Either<E, void>>): TE.TaskEither<E, void> {
    return async () => {
      if (this.initial === undefined) {
        const loaded = await this.loadInitial()
        if (E.isLeft(loaded)) return loaded
      }
      return run()
    }
  }

  private zeroes(
    via: 'discard' | 'writeZeroes',
    sector: number,
    sectors: number,
    run: () => Promise<E.Either<E, void>>,
  ): Promise<E.Either<E, void>> {
    if (!Number.isSafeInteger(sector) || !Number.isSafeInteger(sectors) || sector < 0 || sectors <= 0) return run()
    return this.track(this.issue(via, sector, sectors, null), run())
  }

  private async resizeTo(size: number, resize: (size: number) => TE.TaskEither<E, void>): Promise<E.Either<E, void>> {
    const old = this.sizeSectors
    const cut = Number.isSafeInteger(size) && size >= 0 && size < old ? this.issue('resize', size, old - size, null) : undefined
    const resized = await resize(size)()
    if (cut !== undefined) this.settle(cut, resized)
    if (E.isRight(resized)) {
      this.sizeSectors = size
      this.entries.push({ kind: 'resize', sizeSectors: size, completedAt: this.clock++ })
    }
    return resized
  }

  private issue(via: LiveWrite['via'], sector: number, sectors: number, data: Uint8Array | null): LiveWrite {
    const entry: LiveWrite = { kind: 'write', via, sector, sectors, data, issuedAt: this.clock++, completedAt: Infinity, rejected: false }
    this.entries.push(entry)
    return entry
  }

  private async track(entry: LiveWrite, pending: Promise<E.Either<E, void>>): Promise<E.Either<E, void>> {
    const result = await pending
    this.settle(entry, result)
    return result
  }

  /** Marks a write complete, or rejected when the device refused it for a reason other than an I/O failure. */
  private settle(entry: LiveWrite, result: E.Either<E, void>): void {
    if (E.isRight(result)) entry.completedAt = this.clock++
    else if (!isIo(result.left)) entry.rejected = true
  }

  /** Takes (once) a sparse snapshot of the device as it was before the first recorded mutation. */
  private loadInitial(): Promise<E.Either<E, Initial>> {
    if (this.initial !== undefined) return Promise.resolve(E.right(this.initial))
    if (this.loading === undefined) {
      this.loading = this.snapshot().then((taken) => {
        if (E.isRight(taken)) {
          this.initial = taken.right
          this.sizeSectors = taken.right.sizeSectors
        }
        this.loading = undefined
        return taken
      })
    }
    return this.loading
  }

  private async snapshot(): Promise<E.Either<E, Initial>> {
    const info = await this.inner.getInfo()()
    if (E.isLeft(info)) return info
    const { sectorSize, sizeSectors } = info.right
    this.sectorSize = sectorSize
    const image = SparseImage.empty(sectorSize)
    const pieceSectors = Math.max(image.chunkSectors, Math.floor(SNAPSHOT_PIECE_BYTES / sectorSize / image.chunkSectors) * image.chunkSectors)
    const buffer = new Uint8Array(pieceSectors * sectorSize)
    for (let first = 0; first < sizeSectors; first += pieceSectors) {
      const n = Math.min(pieceSectors, sizeSectors - first)
      const piece = buffer.subarray(0, n * sectorSize)
      const got = await this.inner.read(first, [piece])()
      if (E.isLeft(got)) return got
      for (let c = 0; c < n; c += image.chunkSectors) {
        const m = Math.min(image.chunkSectors, n - c)
        const bytes = piece.subarray(c * sectorSize, (c + m) * sectorSize)
        if (!isZero(bytes)) image.write(first + c, m, bytes)
      }
    }
    return E.right({ image, sizeSectors })
  }
}

/**
 * Wraps `device` so that every write, discard, zero write, resize and flush is forwarded and
 * recorded, and the device's possible contents after a power cut at any point can be produced
 * (`crashImage`, `crashImages`). The crash model: every write that completed before the start of
 * the last flush completed before the cut is kept; every other write issued before the cut (in
 * flight, completed, or failed with an `Io` error) is kept or lost sector by sector, so torn
 * multi-sector writes occur; overlapping unflushed writes that survive land in issue order.
 * Discards and zero writes count as writes of zeroes. Resizes take effect at once; a shrink is
 * also recorded as zeroing the cut-off sectors. Reads and seeks (`seekMapped`/`seekUnmapped`,
 * offered when the device offers both) change nothing, so they are forwarded without being logged. Before its first change the device's contents are
 * read once into a sparse snapshot (its cost grows with the device size), which is why crash
 * images stay available after `disconnect`.
 */
export const recorder = <E>(device: BlockDevice<E>): RecordingDevice<E> => new RecorderImpl(device)
