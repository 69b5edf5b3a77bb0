// Seeded random guest workloads for the crash and fault suites: generation, bytes, and a runner that tracks a model.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import { seededRandom } from '../../src/testing/index.js'

/** One guest request. `id` makes every write's bytes unique. */
export type GuestOp =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly id: number }
  | { readonly kind: 'writeZeroes' | 'discard'; readonly sector: number; readonly sectors: number; readonly unmap?: boolean }
  | { readonly kind: 'flush' }
  | { readonly kind: 'resize'; readonly sizeSectors: number }

/** What the generator may use: device geometry and which optional operations the device offers. */
export interface WorkloadShape {
  readonly sizeSectors: number
  readonly clusterSectors: number
  /** Number of batches to generate. */
  readonly batches: number
  readonly seed: number
  readonly discard: boolean
  readonly writeZeroes: boolean
  /** Whether to resize the device (growing and shrinking between half and twice the start size). */
  readonly resize: boolean
}

/**
 * A random workload as batches: each batch's requests run concurrently and never overlap; a flush
 * is always alone in its batch. Writes are small and unaligned, cluster-crossing, multi-cluster, or
 * rewrites of a hot region, so allocation, in-place writes and partial clusters all occur.
 */
export const generateWorkload = (shape: WorkloadShape): GuestOp[][] => {
  const random = seededRandom(shape.seed)
  const int = (n: number): number => Math.floor(random() * n)
  const { clusterSectors } = shape
  let sizeSectors = shape.sizeSectors
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
    if (shape.resize && dice < 19) {
      sizeSectors = Math.max(hot, Math.floor(shape.sizeSectors / 2) + int(Math.floor(shape.sizeSectors * 1.5)))
      batches.push([{ kind: 'resize', sizeSectors }])
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
      if (shape.discard && kindDice < 10) batch.push({ kind: 'discard', ...r })
      else if (shape.writeZeroes && kindDice < 20) batch.push({ kind: 'writeZeroes', ...r, unmap: kindDice % 2 === 0 })
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
  if (op.kind === 'flush' || op.kind === 'resize') return undefined
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
  /** Model contents after the batch (only the requests that succeeded applied); its length is the guest size. */
  readonly after: Uint8Array
}

/** A zero write asking the device to release the zeroed space (qcow's `{ unmap: true }`; other devices ignore it). */
const writeZeroesUnmap = <Err>(device: BlockDevice<Err>, sector: number, sectors: number): Promise<E.Either<Err, void>> => {
  const withOptions = device.writeZeroes as (sector: number, sectors: number, options: { unmap: boolean }) => () => Promise<E.Either<Err, void>>
  return withOptions.call(device, sector, sectors, { unmap: true })()
}

/** Issues one guest op on the device. */
export const issue = <Err>(device: BlockDevice<Err>, op: GuestOp): Promise<E.Either<Err, void>> => {
  switch (op.kind) {
    case 'flush':
      return device.flush()()
    case 'resize':
      return device.resize!(op.sizeSectors)()
    case 'write':
      return device.write(op.sector, [writeBytes(op)])()
    case 'discard':
      return device.discard!(op.sector, op.sectors)()
    case 'writeZeroes':
      return op.unmap === true ? writeZeroesUnmap(device, op.sector, op.sectors) : device.writeZeroes!(op.sector, op.sectors)()
  }
}

/**
 * Runs batches on `device`, each batch's requests concurrently, tracking the guest's contents from
 * `initial` with every request that succeeded (a resize keeps the common part and zero-fills the
 * rest). `position()` reads the base device's log length.
 */
export const runWorkload = async <Err>(
  device: BlockDevice<Err>,
  batches: ReadonlyArray<ReadonlyArray<GuestOp>>,
  initial: Uint8Array,
  position: () => number,
): Promise<Array<Step<Err>>> => {
  const steps: Array<Step<Err>> = []
  let model = initial.slice()
  for (const batch of batches) {
    const start = position()
    const results = await Promise.all(batch.map((op) => issue(device, op)))
    batch.forEach((op, i) => {
      if (E.isLeft(results[i]) || op.kind === 'flush') return
      if (op.kind === 'resize') {
        const resized = new Uint8Array(op.sizeSectors * 512)
        resized.set(model.subarray(0, Math.min(model.length, resized.length)))
        model = resized
        return
      }
      model.set(opBytes(op)!, op.sector * 512)
    })
    steps.push({ batch, start, end: position(), results, after: model.slice() })
  }
  return steps
}

/** What a crash may leave: the flushed contents, the requests since, and the possible guest sizes in sectors. */
export interface GuestAllowed {
  readonly durable: Uint8Array
  readonly pending: ReadonlyArray<{ readonly sector: number; readonly bytes: Uint8Array }>
  readonly sizes: ReadonlySet<number>
}

/**
 * The guest contents a crash at base log position `cut` may show: `durable`, the contents at the
 * last guest flush that completed by then, and `pending`, every request issued after it and before
 * the cut (each of its sectors may or may not have landed; a shrink counts as zeroing the cut-off
 * sectors). `sizes` holds the durable size and every size a pending resize asked for. `baseline` is
 * the durable contents before the first step.
 */
export const guestAllowed = <Err>(baseline: Uint8Array, steps: ReadonlyArray<Step<Err>>, cut: number): GuestAllowed => {
  let durable = baseline
  let pending: Array<{ sector: number; bytes: Uint8Array }> = []
  let sizes = new Set([baseline.length / 512])
  let size = baseline.length / 512
  for (const step of steps) {
    if (step.start >= cut) break
    const flushed = step.batch.length === 1 && step.batch[0].kind === 'flush' && E.isRight(step.results[0])
    if (flushed && step.end <= cut) {
      durable = step.after
      pending = []
      sizes = new Set([durable.length / 512])
      continue
    }
    for (const op of step.batch) {
      if (op.kind === 'resize') {
        sizes.add(op.sizeSectors)
        if (op.sizeSectors < size) pending.push({ sector: op.sizeSectors, bytes: new Uint8Array((size - op.sizeSectors) * 512) })
        continue
      }
      const bytes = opBytes(op)
      if (bytes !== undefined && op.kind !== 'flush') pending.push({ sector: op.sector, bytes })
    }
    size = step.after.length / 512
  }
  return { durable, pending, sizes }
}

const ZERO_SECTOR = new Uint8Array(512)

/**
 * The first problem with `actual` (the guest contents after a crash): a size no resize asked for,
 * or a sector that holds neither its durable contents (zeroes past the durable size) nor those of
 * a pending request.
 */
export const firstDisallowedSector = (actual: Uint8Array, allowed: GuestAllowed): string | undefined => {
  const sectors = actual.length / 512
  if (!allowed.sizes.has(sectors)) return `the guest has ${sectors} sectors, allowed sizes are ${[...allowed.sizes].join(', ')}`
  const durableSectors = allowed.durable.length / 512
  const durableSector = (s: number): Uint8Array => (s < durableSectors ? allowed.durable.subarray(s * 512, (s + 1) * 512) : ZERO_SECTOR)
  for (let s = 0; s < sectors; s++) {
    const got = actual.subarray(s * 512, (s + 1) * 512)
    if (sameBytes(got, durableSector(s))) continue
    const fromPending = allowed.pending.some(
      (p) => s >= p.sector && s < p.sector + p.bytes.length / 512 && sameBytes(got, p.bytes.subarray((s - p.sector) * 512, (s - p.sector + 1) * 512)),
    )
    if (!fromPending) return `guest sector ${s} holds ${describeSector(got)}, flushed contents were ${describeSector(durableSector(s))}`
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
