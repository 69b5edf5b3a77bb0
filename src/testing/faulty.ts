// faulty(device, plan): a BlockDevice wrapper that fails chosen calls with Io errors, for fault-injection tests.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockInfo } from '../block/device.js'
import type { Io } from '../block/errors.js'
import { sliceBuffers, totalBytes } from '../block/buffers.js'
import { decodeFaultPlan, FAULT_KINDS, planFails, type FaultKind, type FaultPlan, type InvalidFaultPlan } from './fault-plan.js'
import { seededRandom } from './prng.js'

/** Calls seen and faults injected so far, per kind. */
export interface FaultStats {
  readonly calls: Readonly<Record<FaultKind, number>>
  readonly injected: Readonly<Record<FaultKind, number>>
  /** Sum of `injected` over every kind. */
  readonly totalInjected: number
}

/** A device wrapped by `faulty`: the same device, failing what its plan says while enabled. */
export interface FaultyDevice<E> extends BlockDevice<E | Io> {
  /** Switches fault injection on or off; calls keep being counted either way. */
  setEnabled(enabled: boolean): void
  /** Whether faults are currently injected. */
  isEnabled(): boolean
  /** Counters of calls and injected faults. */
  stats(): FaultStats
}

/** The byte written over a failed read's buffers when the plan scribbles them. */
export const SCRIBBLE_BYTE = 0xee

const zeroCounts = (): Record<FaultKind, number> =>
  Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>

const injectedIo = (kind: FaultKind, index: number): Io => ({
  _tag: 'Io',
  kind: 'Failure',
  operation: kind,
  message: `injected fault (${kind} #${index})`,
})

/** Runs of consecutive chosen indexes in `[0, n)`, as `[start, length]` pairs. */
const chosenRuns = (n: number, choose: () => boolean): Array<[number, number]> => {
  const runs: Array<[number, number]> = []
  let start = -1
  for (let i = 0; i <= n; i++) {
    const keep = i < n && choose()
    if (keep && start < 0) start = i
    if (!keep && start >= 0) {
      runs.push([start, i - start])
      start = -1
    }
  }
  return runs
}

class FaultyImpl<E> implements FaultyDevice<E> {
  private enabled: boolean
  private readonly calls = zeroCounts()
  private readonly injected = zeroCounts()
  private readonly drawFault: () => number
  private readonly drawTear: () => number
  private sectorSize: number | undefined

  constructor(
    private readonly inner: BlockDevice<E>,
    private readonly plan: FaultPlan,
  ) {
    this.enabled = plan.enabled ?? true
    this.drawFault = seededRandom(plan.random?.seed ?? 0)
    this.drawTear = seededRandom(plan.seed ?? plan.random?.seed ?? 0)
    if (inner.discard !== undefined) this.discard = (s, n) => this.mutate('discard', s, n, (a, b) => inner.discard!(a, b))
    if (inner.writeZeroes !== undefined) {
      this.writeZeroes = (s, n) => this.mutate('writeZeroes', s, n, (a, b) => inner.writeZeroes!(a, b))
    }
    if (inner.resize !== undefined) {
      this.resize = (size) => () => (this.decide('resize') ? this.fail('resize') : inner.resize!(size)())
    }
    if (inner.seekMapped !== undefined && inner.seekUnmapped !== undefined) {
      this.seekMapped = (from) => this.seek(() => inner.seekMapped!(from)())
      this.seekUnmapped = (from) => this.seek(() => inner.seekUnmapped!(from)())
    }
  }

  declare discard?: (sector: number, sectors: number) => TE.TaskEither<E | Io, void>
  declare writeZeroes?: (sector: number, sectors: number) => TE.TaskEither<E | Io, void>
  declare resize?: (sizeSectors: number) => TE.TaskEither<E | Io, void>
  declare seekMapped?: (fromSector: number) => TE.TaskEither<E | Io, number>
  declare seekUnmapped?: (fromSector: number) => TE.TaskEither<E | Io, number>

  setEnabled(enabled: boolean): void {
    this.enabled = enabled
  }

  isEnabled(): boolean {
    return this.enabled
  }

  stats(): FaultStats {
    let totalInjected = 0
    for (const k of FAULT_KINDS) totalInjected += this.injected[k]
    return { calls: { ...this.calls }, injected: { ...this.injected }, totalInjected }
  }

  getInfo(): TE.TaskEither<E | Io, BlockInfo> {
    return this.inner.getInfo()
  }

  disconnect(): TE.TaskEither<E | Io, void> {
    return this.inner.disconnect()
  }

  flush(): TE.TaskEither<E | Io, void> {
    return () => (this.decide('flush') ? this.fail('flush') : this.inner.flush()())
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<E | Io, void> {
    return async () => {
      const sectors = await this.sectorsOf(buffers)
      if (!this.decide('read', sector, sectors)) return this.inner.read(sector, buffers)()
      if (this.plan.failedReads !== 'untouched') for (const b of buffers) b.fill(SCRIBBLE_BYTE)
      return this.fail('read')
    }
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<E | Io, void> {
    return async () => {
      const sectors = await this.sectorsOf(buffers)
      if (!this.decide('write', sector, sectors)) return this.inner.write(sector, buffers)()
      const size = this.sectorSize
      if (this.plan.failedWrites !== 'unchanged' && size !== undefined) {
        for (const [start, length] of chosenRuns(sectors, () => this.drawTear() < 0.5)) {
          await this.inner.write(sector + start, sliceBuffers(buffers, start * size, length * size))()
        }
      }
      return this.fail('write')
    }
  }

  /** A discard or zero write: fails as planned, applying a torn subset of its sectors first. */
  private mutate(
    kind: FaultKind,
    sector: number,
    sectors: number,
    run: (sector: number, sectors: number) => TE.TaskEither<E, void>,
  ): TE.TaskEither<E | Io, void> {
    return async () => {
      if (!this.decide(kind, sector, sectors)) return run(sector, sectors)()
      if (this.plan.failedWrites !== 'unchanged' && Number.isSafeInteger(sectors) && sectors > 0) {
        for (const [start, length] of chosenRuns(sectors, () => this.drawTear() < 0.5)) await run(sector + start, length)()
      }
      return this.fail(kind)
    }
  }

  /** A `seekMapped` or `seekUnmapped` call: fails as planned (kind `seek`), else asks the inner device. */
  private seek(run: () => Promise<E.Either<E, number>>): TE.TaskEither<E | Io, number> {
    return () => (this.decide('seek') ? this.fail('seek') : run())
  }

  /** Counts the call and decides whether it fails (always false while disabled). */
  private decide(kind: FaultKind, sector?: number, sectors?: number): boolean {
    const index = ++this.calls[kind]
    const range = sector === undefined || sectors === undefined ? undefined : { sector, sectors }
    const fails = planFails(this.plan, range === undefined ? { kind, index } : { kind, index, range }, this.drawFault)
    if (!this.enabled || !fails) return false
    this.injected[kind]++
    return true
  }

  private fail(kind: FaultKind): Promise<E.Either<Io, never>> {
    return Promise.resolve(E.left(injectedIo(kind, this.calls[kind])))
  }

  /** The sector count of a buffer list (0 when it is not whole sectors: the inner device then rejects it). */
  private async sectorsOf(buffers: ReadonlyArray<Uint8Array>): Promise<number> {
    if (this.sectorSize === undefined) {
      const info = await this.inner.getInfo()()
      if (E.isRight(info)) this.sectorSize = info.right.sectorSize
    }
    const size = this.sectorSize
    if (size === undefined || !Array.isArray(buffers) || !buffers.every((b) => b instanceof Uint8Array)) return 0
    const bytes = totalBytes(buffers)
    return bytes % size === 0 ? bytes / size : 0
  }
}

/**
 * Wraps `device` so that calls fail with `Io` errors as `plan` says (see `FaultPlan`): the Nth
 * call of a kind, every call from the Nth on, a seeded random fraction, or requests touching
 * chosen sectors. A failed write, discard or zero write is by default torn (each sector holds old
 * or new contents); a failed read scribbles over the caller's buffers; a failed flush, resize or
 * seek does nothing. `seekMapped`/`seekUnmapped` are offered when the device offers both. `getInfo` and `disconnect` never fail. Everything replays exactly for the same plan
 * and call sequence. Returns `InvalidFaultPlan` when the plan does not decode.
 */
export const faulty = <E>(device: BlockDevice<E>, plan: FaultPlan): E.Either<InvalidFaultPlan, FaultyDevice<E>> =>
  E.map((decoded: FaultPlan) => new FaultyImpl(device, decoded) as FaultyDevice<E>)(decodeFaultPlan(plan))
