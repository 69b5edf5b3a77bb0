// The fault plan of `faulty`: its io-ts codec, its decoded form and the decision "does this call fail?".
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'

/** The operations `faulty` can fail, each counted separately (`seek`: `seekMapped` and `seekUnmapped` together). */
export type FaultKind = 'read' | 'write' | 'flush' | 'discard' | 'writeZeroes' | 'resize' | 'seek'

/** Every fault kind, in a fixed order. */
export const FAULT_KINDS: ReadonlyArray<FaultKind> = ['read', 'write', 'flush', 'discard', 'writeZeroes', 'resize', 'seek']

const Kind = t.keyof({ read: null, write: null, flush: null, discard: null, writeZeroes: null, resize: null, seek: null })
const Count = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 1, 'PositiveInteger')
const SectorNumber = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'SectorNumber')
const Rate = t.refinement(t.number, (n) => n >= 0 && n <= 1, 'Rate')
const Seed = t.refinement(t.number, Number.isFinite, 'Seed')
const PerKind = <C extends t.Mixed>(c: C) =>
  t.partial({ read: c, write: c, flush: c, discard: c, writeZeroes: c, resize: c, seek: c })

/** io-ts codec of a fault plan, as given by a (possibly untyped) caller. */
export const FaultPlanCodec = t.partial({
  nth: PerKind(t.readonlyArray(Count)),
  from: PerKind(Count),
  random: t.intersection([t.type({ seed: Seed, rate: Rate }), t.partial({ kinds: t.readonlyArray(Kind) })]),
  sectors: t.readonlyArray(
    t.intersection([t.type({ sector: SectorNumber, sectors: Count }), t.partial({ kinds: t.readonlyArray(Kind) })]),
  ),
  failedWrites: t.keyof({ torn: null, unchanged: null }),
  failedReads: t.keyof({ scribbled: null, untouched: null }),
  seed: Seed,
  enabled: t.boolean,
})

/**
 * Which calls `faulty` fails, and what a failed call leaves behind. Every field is optional; an
 * empty plan fails nothing. Calls are counted per kind from 1, over the device's whole life
 * (calls made while faults are switched off count too).
 */
export interface FaultPlan {
  /** Fail exactly these calls of each kind, e.g. `{ write: [3, 7] }` fails the 3rd and 7th write. */
  readonly nth?: Partial<Record<FaultKind, ReadonlyArray<number>>>
  /** Fail every call of a kind from this one on, e.g. `{ flush: 2 }`: a device that dies. */
  readonly from?: Partial<Record<FaultKind, number>>
  /** Fail a random fraction `rate` (0 to 1) of the calls of `kinds` (default: all kinds), seeded. */
  readonly random?: { readonly seed: number; readonly rate: number; readonly kinds?: ReadonlyArray<FaultKind> }
  /** Fail every request touching one of these sector ranges (of `kinds`; default read, write, discard, writeZeroes). */
  readonly sectors?: ReadonlyArray<{ readonly sector: number; readonly sectors: number; readonly kinds?: ReadonlyArray<FaultKind> }>
  /**
   * What a failed write, discard or zero write leaves on the device. `'torn'` (the default, as a
   * real disk may do): each of its sectors independently holds either its old or its new contents.
   * `'unchanged'`: nothing was written.
   */
  readonly failedWrites?: 'torn' | 'unchanged'
  /** What a failed read leaves in the caller's buffers: `'scribbled'` (default: a 0xEE pattern) or `'untouched'`. */
  readonly failedReads?: 'scribbled' | 'untouched'
  /** Seed of the torn-write choices (default: `random.seed`, else 0). */
  readonly seed?: number
  /** Whether faults start switched on (default true). */
  readonly enabled?: boolean
}

/** A fault plan that does not decode: `reason` says which field is wrong. */
export interface InvalidFaultPlan { readonly _tag: 'InvalidFaultPlan'; readonly reason: string }

/** Decodes a fault plan from an untrusted value. */
export const decodeFaultPlan = (plan: unknown): E.Either<InvalidFaultPlan, FaultPlan> => {
  const decoded = FaultPlanCodec.decode(plan)
  return E.isRight(decoded)
    ? E.right(decoded.right as FaultPlan)
    : E.left({ _tag: 'InvalidFaultPlan', reason: PathReporter.report(decoded).join('; ') })
}

/** One call as the plan sees it: its kind, its 1-based index within its kind and the sectors it touches. */
export interface FaultCall {
  readonly kind: FaultKind
  readonly index: number
  /** The first sector and the sector count touched; absent for flush, resize and seek. */
  readonly range?: { readonly sector: number; readonly sectors: number }
}

const DEFAULT_SECTOR_KINDS: ReadonlyArray<FaultKind> = ['read', 'write', 'discard', 'writeZeroes']

const overlaps = (a: { sector: number; sectors: number }, b: { sector: number; sectors: number }): boolean =>
  a.sector < b.sector + b.sectors && b.sector < a.sector + a.sectors

/**
 * Decides whether a call fails under `plan`. `draw` supplies the random number for the plan's
 * random fraction; it is consumed only for calls of the random plan's kinds, so a replay with the
 * same call sequence makes the same decisions.
 */
export const planFails = (plan: FaultPlan, call: FaultCall, draw: () => number): boolean => {
  let fails = false
  if (plan.random !== undefined && (plan.random.kinds ?? FAULT_KINDS).includes(call.kind)) {
    fails = draw() < plan.random.rate
  }
  if (plan.nth?.[call.kind]?.includes(call.index) === true) fails = true
  const from = plan.from?.[call.kind]
  if (from !== undefined && call.index >= from) fails = true
  const range = call.range
  if (range !== undefined && range.sectors > 0 && plan.sectors !== undefined) {
    for (const s of plan.sectors) {
      if ((s.kinds ?? DEFAULT_SECTOR_KINDS).includes(call.kind) && overlaps(s, range)) fails = true
    }
  }
  return fails
}
