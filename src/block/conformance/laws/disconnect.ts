// Law: requests in flight at disconnect settle as values, and every call after disconnect returns Disconnected.
import * as fc from 'fast-check'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../device.js'
import { fillSeeded, fitShape, makeBuffers, shapeArb, shapeSectors, type BufferShape } from '../data.js'
import { refuse, settle, show, succeed, violation, withDevice, type Subject } from '../harness.js'
import type { DeviceFactory, Tagged } from '../types.js'

/** A call to any operation, with arguments that may or may not be valid. */
type AnyCall =
  | { readonly op: 'read' | 'write'; readonly at: number; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly op: 'discard' | 'writeZeroes'; readonly at: number; readonly count: number }
  | { readonly op: 'resize'; readonly size: number }
  | { readonly op: 'seekMapped' | 'seekUnmapped'; readonly at: number }
  | { readonly op: 'flush' | 'getInfo' | 'disconnect' }

const anyCallArb: fc.Arbitrary<AnyCall> = fc.oneof(
  fc.record({ op: fc.constantFrom('read' as const, 'write' as const), at: fc.integer({ min: -2, max: 300 }), shape: shapeArb }),
  fc.record({ op: fc.constantFrom('discard' as const, 'writeZeroes' as const), at: fc.integer({ min: -2, max: 300 }), count: fc.nat(8) }),
  fc.record({ op: fc.constant('resize' as const), size: fc.integer({ min: -1, max: 300 }) }),
  fc.record({ op: fc.constantFrom('seekMapped' as const, 'seekUnmapped' as const), at: fc.integer({ min: -2, max: 300 }) }),
  fc.record({ op: fc.constantFrom('flush' as const, 'getInfo' as const, 'disconnect' as const) }),
)

/** Builds the call's task, or nothing when the device lacks the operation. */
const taskOf = <E extends Tagged>(device: BlockDevice<E>, call: AnyCall, sectorSize: number): (() => TaskEither<E, unknown>) | undefined => {
  switch (call.op) {
    case 'read':
      return () => device.read(call.at, makeBuffers(call.shape, sectorSize))
    case 'write': {
      const buffers = makeBuffers(call.shape, sectorSize)
      for (const b of buffers) fillSeeded(b, call.at, 0)
      return () => device.write(call.at, buffers)
    }
    case 'discard':
    case 'writeZeroes': {
      const op = device[call.op]
      return op === undefined ? undefined : () => op.call(device, call.at, call.count)
    }
    case 'resize': {
      const op = device.resize
      return op === undefined ? undefined : () => op.call(device, call.size)
    }
    case 'seekMapped':
    case 'seekUnmapped': {
      const op = device[call.op]
      return op === undefined ? undefined : () => op.call(device, call.at)
    }
    case 'flush':
      return () => device.flush()
    case 'getInfo':
      return () => device.getInfo()
    case 'disconnect':
      return () => device.disconnect()
  }
}

/** Valid requests to have in flight when the device is disconnected. */
const inFlightCallArb: fc.Arbitrary<AnyCall> = fc.oneof(
  fc.record({ op: fc.constantFrom('read' as const, 'write' as const), at: fc.nat(), shape: shapeArb }),
  fc.record({ op: fc.constant('flush' as const) }),
)

const startInFlight = <E extends Tagged>(subject: Subject<E>, call: AnyCall): Promise<unknown> => {
  if (call.op !== 'read' && call.op !== 'write') return settle('flush in flight at disconnect', () => subject.device.flush())
  const shape = fitShape(call.shape, subject.sizeSectors)
  const placed = { ...call, shape, at: call.at % (subject.sizeSectors - shapeSectors(shape) + 1) }
  const task = taskOf(subject.device, placed, subject.sectorSize)!
  const allowed = call.op === 'write' && !subject.readWrite ? ['Disconnected', 'ReadOnly'] : ['Disconnected']
  return settle(`${call.op} in flight at disconnect`, task).then((outcome) => {
    if (!outcome.ok && !allowed.includes(outcome.error._tag)) violation(`a ${call.op} in flight at disconnect returned ${show(outcome.error)}`)
  })
}

/** Requests in flight at disconnect succeed or return Disconnected; afterwards every call, valid or not, returns Disconnected. */
export const disconnectLaw =
  <E extends Tagged>(factory: DeviceFactory<E>) =>
  ([inFlight, after]: readonly [ReadonlyArray<AnyCall>, ReadonlyArray<AnyCall>]): Promise<void> =>
    withDevice(factory, async (subject) => {
      const pending = inFlight.map((call) => startInFlight(subject, call))
      await succeed('disconnect', () => subject.device.disconnect())
      await Promise.all(pending)
      for (const call of after) {
        const task = taskOf(subject.device, call, subject.sectorSize)
        if (task !== undefined) await refuse(`${call.op} after disconnect (${show(call)})`, task, ['Disconnected'])
      }
    })

/** Random calls before and after the disconnect for `disconnectLaw`. */
export const disconnectArb = fc.tuple(fc.array(inFlightCallArb, { maxLength: 6 }), fc.array(anyCallArb, { minLength: 1, maxLength: 8 }))
