// Law: requests with bad arguments return OutOfRange or Misaligned (never a throw) and change nothing.
import * as fc from 'fast-check'
import { expectBytes, fitShape, makeBuffers, readWhole, shapeArb, shapeSectors, type BufferShape } from '../data.js'
import { refuse, show, succeed, violation, withDevice, type Subject } from '../harness.js'
import type { DeviceFactory, Tagged } from '../types.js'

/** Sector numbers and counts that are not non-negative safe integers, including values of other types. */
const badNumberArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(-1, -0.5, 0.5, Number.NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, '1', null, undefined, {}, [1]),
  fc.integer({ min: -(2 ** 40), max: -1 }),
  fc.double({ noInteger: true, noNaN: true, min: -1e6, max: 1e6 }),
)

const isSectorNumber = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0

/** Buffer lists that are not arrays of Uint8Array. */
const badBuffersArb: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(null, undefined, 'buffer', 42, {}, new Uint8Array(512))
/** Buffers that are not Uint8Array. */
const badBufferArb: fc.Arbitrary<unknown> = fc.constantFrom<unknown>(null, undefined, [0, 0, 0], new Uint16Array(256), new DataView(new ArrayBuffer(512)), 'x')

/** One bad request; `op` names the device operation it goes to. */
type BadCall =
  | { readonly defect: 'sector'; readonly op: 'read' | 'write'; readonly sector: unknown; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly defect: 'pastEnd'; readonly op: 'read' | 'write'; readonly over: number; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly defect: 'bufferBytes'; readonly op: 'read' | 'write'; readonly at: number; readonly extra: number; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly defect: 'bufferType'; readonly op: 'read' | 'write'; readonly at: number; readonly value: unknown; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly defect: 'buffers'; readonly op: 'read' | 'write'; readonly at: number; readonly value: unknown }
  | { readonly defect: 'range'; readonly op: 'discard' | 'writeZeroes'; readonly sector: unknown; readonly count: unknown }
  | { readonly defect: 'rangePastEnd'; readonly op: 'discard' | 'writeZeroes'; readonly over: number; readonly count: number }
  | { readonly defect: 'resize'; readonly op: 'resize'; readonly size: unknown }
  | { readonly defect: 'seek'; readonly op: 'seekMapped' | 'seekUnmapped'; readonly sector: unknown }

const ioOp = fc.constantFrom('read' as const, 'write' as const)
const zeroOp = fc.constantFrom('discard' as const, 'writeZeroes' as const)

const badCallArb: fc.Arbitrary<BadCall> = fc.oneof(
  fc.record({ defect: fc.constant('sector' as const), op: ioOp, sector: badNumberArb, shape: shapeArb }),
  fc.record({ defect: fc.constant('pastEnd' as const), op: ioOp, over: fc.oneof(fc.nat(8), fc.nat()), shape: shapeArb }),
  fc.record({ defect: fc.constant('bufferBytes' as const), op: ioOp, at: fc.nat(), extra: fc.integer({ min: 1, max: 511 }), shape: shapeArb }),
  fc.record({ defect: fc.constant('bufferType' as const), op: ioOp, at: fc.nat(), value: badBufferArb, shape: shapeArb }),
  fc.record({ defect: fc.constant('buffers' as const), op: ioOp, at: fc.nat(), value: badBuffersArb }),
  fc.record({
    defect: fc.constant('range' as const),
    op: zeroOp,
    sector: fc.oneof(badNumberArb, fc.nat(4)),
    count: fc.oneof(badNumberArb, fc.nat(4)),
  }).filter((c) => !(isSectorNumber(c.sector) && isSectorNumber(c.count))),
  fc.record({ defect: fc.constant('rangePastEnd' as const), op: zeroOp, over: fc.nat(8), count: fc.nat(8) }),
  fc.record({ defect: fc.constant('resize' as const), op: fc.constant('resize' as const), size: badNumberArb }),
  fc.record({ defect: fc.constant('seek' as const), op: fc.constantFrom('seekMapped' as const, 'seekUnmapped' as const), sector: badNumberArb }),
)

/** Sends one bad request and checks the error's tag; read-only devices may answer a change with ReadOnly instead. */
const sendBadCall = async <E extends Tagged>(subject: Subject<E>, call: BadCall): Promise<void> => {
  const { device, sizeSectors: size, sectorSize } = subject
  const changing = call.op !== 'read'
  const tags = (tag: string): string[] => (changing && !subject.readWrite ? [tag, 'ReadOnly'] : [tag])
  const io = (sector: unknown, buffers: unknown, tag: string): Promise<void> => {
    const what = `${call.op} with sector ${show(sector)} and buffers ${show(Array.isArray(buffers) ? buffers.map((b) => (b instanceof Uint8Array ? b.byteLength : show(b))) : buffers)}`
    return refuse(what, () => device[call.op as 'read' | 'write'](sector as number, buffers as Uint8Array[]), tags(tag))
  }
  switch (call.defect) {
    case 'sector':
      return io(call.sector, makeBuffers(fitShape(call.shape, size), sectorSize), 'OutOfRange')
    case 'pastEnd': {
      const n = shapeSectors(call.shape)
      return io(Math.max(0, size - n + 1) + call.over, makeBuffers(call.shape, sectorSize), 'OutOfRange')
    }
    case 'bufferBytes': {
      const shape = fitShape(call.shape, Math.max(0, size - 1))
      const buffers = [...makeBuffers(shape, sectorSize), new Uint8Array(call.extra)]
      return io(call.at % (size - shapeSectors(shape) + 1), buffers, 'Misaligned')
    }
    case 'bufferType': {
      const shape = fitShape(call.shape, size)
      const buffers: unknown[] = makeBuffers(shape, sectorSize)
      buffers.splice(call.at % (buffers.length + 1), 0, call.value)
      return io(call.at % (size - shapeSectors(shape) + 1), buffers, 'Misaligned')
    }
    case 'buffers':
      return io(call.at % (size + 1), call.value, 'Misaligned')
    case 'range':
    case 'rangePastEnd': {
      const op = device[call.op]
      if (op === undefined) return
      const [sector, count] = call.defect === 'range' ? [call.sector, call.count] : [Math.max(0, size - call.count + 1) + call.over, call.count]
      return refuse(`${call.op} of ${show(count)} sector(s) at ${show(sector)}`, () => op.call(device, sector as number, count as number), tags('OutOfRange'))
    }
    case 'resize': {
      const op = device.resize
      if (op === undefined) return
      return refuse(`resize to ${show(call.size)} sectors`, () => op.call(device, call.size as number), tags('OutOfRange'))
    }
    case 'seek': {
      const op = device[call.op]
      if (op === undefined) return
      return refuse(`${call.op} from ${show(call.sector)}`, () => op.call(device, call.sector as number), ['OutOfRange'])
    }
  }
}

/** Bad arguments of every kind return the right tag and leave the device's size and contents unchanged. */
export const argumentsLaw =
  <E extends Tagged>(factory: DeviceFactory<E>) =>
  (calls: ReadonlyArray<BadCall>): Promise<void> =>
    withDevice(factory, async (subject) => {
      for (const call of calls) await sendBadCall(subject, call)
      const info = await succeed('getInfo', () => subject.device.getInfo())
      if (info.sizeSectors !== subject.sizeSectors) violation(`bad requests changed the size to ${info.sizeSectors} sectors`)
      const whole = await readWhole(subject.device, subject.sizeSectors, subject.sectorSize)
      expectBytes('read of the whole device after bad requests', whole, subject.contents, 0, subject.sectorSize)
    })

/** Random lists of bad requests for `argumentsLaw`. */
export const badCallsArb = fc.array(badCallArb, { minLength: 1, maxLength: 6 })
