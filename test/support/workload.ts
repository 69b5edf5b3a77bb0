// Seeded random guest workloads for the crash and fault suites: generation, bytes, and a runner that tracks a model.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import { seededRandom } from '../../src/testing/index.js'

/** One guest request. `id` makes every write's bytes unique. */
export type GuestOp =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly id: number }
  | { readonly kind: 'writeZeroes' | 'discard'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'flush' }

/** What the generator may use: device geometry and which optional operations the device offers. */
export interface WorkloadShape {
  readonly sizeSectors: number
  readonly clusterSectors: number
  /** Number of batches to generate. */
  readonly batches: number
  readonly seed: number
  readonly discard: boolean
  readonly writeZeroes: boolean
}

/**
 * A random workload as batches: each batch's requests run concurrently and never overlap; a flush
 * is always alone in its batch. Writes are small and unaligned, cluster-crossing, multi-cluster, or
 * rewrites of a hot region, so allocation, in-place writes and partial clusters all occur.
 */
export const generateWorkload = (shape: WorkloadShape): GuestOp[][] => {
  const random = seededRandom(shape.seed)
  const int = (n: number): number => Math.floor(random() * n)
  const { sizeSectors, clusterSectors } = shape
  const hot = Math.min(sizeSectors, clusterSectors * 4)
  let nextId = 1 + shape.seed * 10_000
  const range = (): { sector: number; sectors: number } => {
    const style = int(5)
    let sector: number
    let sectors: number
    if (style === 0) {
      sector = int(sizeSectors)
      sectors = 1 + int(8)
    } else if (style === 1) {
      const boundary = (1 + int(Math.max(1, Math.floor(sizeSectors / clusterSectors) - 1))) * clusterSectors
      sector = Math.max(0, boundary - 1 - int(clusterSectors))
      sectors = 2 + int(clusterSectors * 2)
    } else if (style === 2) {
      sector = int(sizeSectors)
      sectors = clusterSectors + int(clusterSectors * 3)
    } else {
      sector = int(hot)
      sectors = 1 + int(Math.min(16, clusterSectors * 2))
    }
    return { sector, sectors: Math.max(1, Math.min(sectors, sizeSectors - sector)) }
  }
  const batches: GuestOp[][] = []
  for (let b = 0; b < shape.batches; b++) {
    const dice = int(100)
    if (dice < 15) {
      batches.push([{ kind: 'flush' }])
      continue
    }
    const width = dice < 30 ? 2 + int(4) : 1
    const batch: GuestOp[] = []
    const taken: Array<{ sector: number; sectors: number }> = []
    for (let i = 0; i < width; i++) {
      const r = range()
      if (taken.some((t) => t.sector < r.sector + r.sectors && r.sector < t.sector + t.sectors)) continue
      taken.push(r)
      const kindDice = int(100)
      if (shape.discard && kindDice < 7) batch.push({ kind: 'discard', ...r })
      else if (shape.writeZeroes && kindDice < 14) batch.push({ kind: 'writeZeroes', ...r })
      else batch.push({ kind: 'write', ...r, id: nextId++ })
    }
    batches.push(batch)
  }
  return batches
}

/** The bytes of a write: every sector starts with the write's id and the sector's number (never zero). */
export const writeBytes = (op: { readonly sector: number; readonly sectors: number; readonly id: number }): Uint8Array => {
  const out = new Uint8Array(op.sectors * 512)
  const view = new DataView(out.buffer)
  for (let s = 0; s < op.sectors; s++) {
    view.setUint32(s * 512, op.id)
    view.setUint32(s * 512 + 4, op.sector + s)
    for (let i = 8; i < 512; i++) out[s * 512 + i] = ((op.id * 7 + s * 13 + i) % 251) + 1
  }
  return out
}

const bytesOfOp = new WeakMap<GuestOp, Uint8Array>()

/** The bytes a guest op leaves in its sectors (zeroes for discard and zero writes), or undefined for a flush. Cached; do not modify. */
export const opBytes = (op: GuestOp): Uint8Array | undefined => {
  if (op.kind === 'flush') return undefined
  let bytes = bytesOfOp.get(op)
  if (bytes === undefined) {
    bytes = op.kind === 'write' ? writeBytes(op) : new Uint8Array(op.sectors * 512)
    bytesOfOp.set(op, bytes)
  }
  return bytes
}

/** A batch as run: its base-device log positions before and after, each request's result, and the model after. */
export interface Step<Err> {
  readonly batch: ReadonlyArray<GuestOp>
  readonly start: number
  readonly end: number
  readonly results: ReadonlyArray<E.Either<Err, void>>
  /** Model contents after the batch (only the requests that succeeded applied). */
  readonly after: Uint8Array
}

/** Issues one guest op on the device. */
export const issue = <Err>(device: BlockDevice<Err>, op: GuestOp): Promise<E.Either<Err, void>> => {
  switch (op.kind) {
    case 'flush':
      return device.flush()()
    case 'write':
      return device.write(op.sector, [writeBytes(op)])()
    case 'discard':
      return device.discard!(op.sector, op.sectors)()
    case 'writeZeroes':
      return device.writeZeroes!(op.sector, op.sectors)()
  }
}

/**
 * Runs batches on `device`, each batch's requests concurrently, updating `model` (the guest's
 * contents) with every request that succeeded. `position()` reads the base device's log length.
 */
export const runWorkload = async <Err>(
  device: BlockDevice<Err>,
  batches: ReadonlyArray<ReadonlyArray<GuestOp>>,
  model: Uint8Array,
  position: () => number,
): Promise<Array<Step<Err>>> => {
  const steps: Array<Step<Err>> = []
  for (const batch of batches) {
    const start = position()
    const results = await Promise.all(batch.map((op) => issue(device, op)))
    batch.forEach((op, i) => {
      const bytes = opBytes(op)
      if (bytes !== undefined && E.isRight(results[i])) model.set(bytes, op.kind === 'flush' ? 0 : op.sector * 512)
    })
    steps.push({ batch, start, end: position(), results, after: model.slice() })
  }
  return steps
}

/**
 * The guest contents a crash at base log position `cut` may show: `durable`, the contents at the
 * last guest flush that completed by then, and `pending`, every request issued after it and before
 * the cut (each of its sectors may or may not have landed). `baseline` is the durable contents
 * before the first step.
 */
export const guestAllowed = <Err>(baseline: Uint8Array, steps: ReadonlyArray<Step<Err>>, cut: number) => {
  let durable = baseline
  let pending: Array<{ sector: number; bytes: Uint8Array }> = []
  for (const step of steps) {
    if (step.start >= cut) break
    const flushed = step.batch.length === 1 && step.batch[0].kind === 'flush' && E.isRight(step.results[0])
    if (flushed && step.end <= cut) {
      durable = step.after
      pending = []
      continue
    }
    for (const op of step.batch) {
      const bytes = opBytes(op)
      if (bytes !== undefined && op.kind !== 'flush') pending.push({ sector: op.sector, bytes })
    }
  }
  return { durable, pending }
}

/** The first sector of `actual` (guest contents) that is neither durable nor from a pending request, with a description. */
export const firstDisallowedSector = (actual: Uint8Array, allowed: ReturnType<typeof guestAllowed>): string | undefined => {
  const sectors = actual.length / 512
  for (let s = 0; s < sectors; s++) {
    const got = actual.subarray(s * 512, (s + 1) * 512)
    if (sameBytes(got, allowed.durable.subarray(s * 512, (s + 1) * 512))) continue
    const fromPending = allowed.pending.some(
      (p) => s >= p.sector && s < p.sector + p.bytes.length / 512 && sameBytes(got, p.bytes.subarray((s - p.sector) * 512, (s - p.sector + 1) * 512)),
    )
    if (!fromPending) return `guest sector ${s} holds ${describeSector(got)}, flushed contents were ${describeSector(allowed.durable.subarray(s * 512, (s + 1) * 512))}`
  }
  return undefined
}

/** Byte equality, compared a 32-bit word at a time (both arrays are sector slices of 4-byte-aligned buffers). */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  if (a.byteOffset % 4 !== 0 || b.byteOffset % 4 !== 0 || a.length % 4 !== 0) return a.every((x, i) => x === b[i])
  const wa = new Uint32Array(a.buffer, a.byteOffset, a.length / 4)
  const wb = new Uint32Array(b.buffer, b.byteOffset, b.length / 4)
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return false
  return true
}

/** A short description of a sector: zeroes, a write's id and sector number, or its first bytes. */
export const describeSector = (bytes: Uint8Array): string => {
  if (bytes.every((b) => b === 0)) return 'zeroes'
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8)
  return `write #${view.getUint32(0)} sector ${view.getUint32(4)}`
}
