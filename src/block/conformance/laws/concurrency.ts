// Law: overlapping requests issued together leave every sector whole: its old bytes or those of one request.
import * as fc from 'fast-check'
import { concat, fillSeeded, fitShape, makeBuffers, readWhole, shapeArb, shapeSectors, type BufferShape } from '../data.js'
import { settle, show, violation, withDevice, type Subject } from '../harness.js'
import type { DeviceFactory, Tagged } from '../types.js'

/** One of the requests issued together; positions are reduced to a small hot region so they overlap. */
type Concurrent =
  | { readonly kind: 'write' | 'read'; readonly at: number; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly kind: 'writeZeroes' | 'discard'; readonly at: number; readonly count: number }

const concurrentArb: fc.Arbitrary<Concurrent> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.nat(), shape: shapeArb }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('read' as const), at: fc.nat(), shape: shapeArb }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constantFrom('writeZeroes' as const, 'discard' as const), at: fc.nat(), count: fc.nat(6) }), weight: 1 },
)

/** The sectors requests are placed in: small, so that they overlap often. */
const HOT_SECTORS = 12

/** What a sector may hold once the requests touching it are done: its old bytes or those of any request that touched it. */
type Candidates = Uint8Array[][]

const checkSectors = (what: string, bytes: Uint8Array, first: number, candidates: Candidates, sectorSize: number): void => {
  for (let i = 0; i * sectorSize < bytes.byteLength; i++) {
    const sector = bytes.subarray(i * sectorSize, (i + 1) * sectorSize)
    const allowed = candidates[first + i]
    if (!allowed.some((c) => c.every((b, j) => b === sector[j]))) {
      violation(`${what}: sector ${first + i} holds bytes that are neither its old contents nor those of one request (${allowed.length} possibilities)`)
    }
  }
}

/** Issues the requests together (without awaiting), then checks reads and the final contents sector by sector. */
export const concurrencyLaw =
  <E extends Tagged>(factory: DeviceFactory<E>) =>
  (requests: ReadonlyArray<Concurrent>): Promise<void> =>
    withDevice(factory, async (subject: Subject<E>) => {
      const { device, sectorSize, sizeSectors: size, readWrite } = subject
      const region = Math.min(size, HOT_SECTORS)
      const candidates: Candidates = Array.from({ length: size }, (_, s) => [subject.contents.slice(s * sectorSize, (s + 1) * sectorSize)])
      const checks: Array<() => void> = []
      const pending = requests.map((request, index) => {
        if (request.kind === 'write' || request.kind === 'read') {
          const shape = fitShape(request.shape, region)
          const n = shapeSectors(shape)
          const sector = request.at % (region - n + 1)
          const buffers = makeBuffers(shape, sectorSize, 0xcc)
          if (request.kind === 'read') {
            checks.push(() => checkSectors(`concurrent read ${index} at ${sector}`, concat(buffers), sector, candidates, sectorSize))
            return settle(`concurrent read at ${sector}`, () => device.read(sector, buffers))
          }
          const data = new Uint8Array(n * sectorSize)
          fillSeeded(data, index + 1, sector * sectorSize)
          let at = 0
          for (const b of buffers) {
            b.set(data.subarray(at, at + b.byteLength))
            at += b.byteLength
          }
          if (readWrite) for (let s = 0; s < n; s++) candidates[sector + s].push(data.subarray(s * sectorSize, (s + 1) * sectorSize))
          return settle(`concurrent write at ${sector}`, () => device.write(sector, buffers))
        }
        const zeroing = request as Extract<Concurrent, { readonly count: number }>
        const op = device[zeroing.kind]
        if (op === undefined) return Promise.resolve(undefined)
        const count = Math.min(zeroing.count, region)
        const sector = request.at % (region - count + 1)
        if (readWrite) for (let s = 0; s < count; s++) candidates[sector + s].push(new Uint8Array(sectorSize))
        return settle(`concurrent ${zeroing.kind} at ${sector}`, () => op.call(device, sector, count))
      })
      const outcomes = await Promise.all(pending)
      outcomes.forEach((outcome, i) => {
        if (outcome === undefined) return // the device lacks the operation
        const changing = requests[i].kind !== 'read'
        if (!outcome.ok && !(changing && !readWrite && outcome.error._tag === 'ReadOnly')) {
          violation(`concurrent ${requests[i].kind} ${i} failed: ${show(outcome.error)}`)
        }
        if (outcome.ok && changing && !readWrite) violation(`concurrent ${requests[i].kind} ${i} succeeded on a read-only device`)
      })
      for (const check of checks) check()
      const whole = await readWhole(device, size, sectorSize)
      checkSectors('contents after the concurrent requests', whole, 0, candidates, sectorSize)
    })

/** Random groups of requests for `concurrencyLaw`. */
export const concurrentArbs = fc.array(concurrentArb, { minLength: 2, maxLength: 10 })
