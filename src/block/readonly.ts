// The readOnly combinator: a view of a device that refuses every change.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockInfo } from './device.js'
import { disconnected, readOnlyError, type Disconnected, type ReadOnly } from './errors.js'

/**
 * A read-only view of `device`: reads and flushes pass through, `write` (and `discard`,
 * `writeZeroes`, `resize`, offered only when `device` has them) fail with `ReadOnly`; `seekMapped` and
 * `seekUnmapped` pass through when `device` has them.
 * Disconnecting the view ends the view only; `device` stays connected and is its owner's to close.
 */
export const readOnly = <E>(device: BlockDevice<E>): BlockDevice<E | ReadOnly | Disconnected> => {
  let connected = true
  const whileConnected =
    <A>(task: () => TaskEither<E | ReadOnly | Disconnected, A>): TaskEither<E | ReadOnly | Disconnected, A> =>
    () =>
      connected ? task()() : Promise.resolve(E.left(disconnected()))
  const { seekMapped, seekUnmapped } = device
  const refuse = (operation: string) => whileConnected<void>(() => () => Promise.resolve(E.left(readOnlyError(operation))))
  return {
    getInfo: () =>
      whileConnected(() => async () => E.map((info: BlockInfo): BlockInfo => ({ ...info, readWrite: false }))(await device.getInfo()())),
    read: (sector, buffers) => whileConnected(() => device.read(sector, buffers)),
    write: () => refuse('write'),
    flush: () => whileConnected(() => device.flush()),
    disconnect: () =>
      whileConnected(() => () => {
        connected = false
        return Promise.resolve(E.right(undefined))
      }),
    ...(device.discard === undefined ? {} : { discard: () => refuse('discard') }),
    ...(device.writeZeroes === undefined ? {} : { writeZeroes: () => refuse('write zeroes') }),
    ...(device.resize === undefined ? {} : { resize: () => refuse('resize') }),
    ...(seekMapped === undefined || seekUnmapped === undefined
      ? {}
      : {
          seekMapped: (from: number) => whileConnected(() => seekMapped.call(device, from)),
          seekUnmapped: (from: number) => whileConnected(() => seekUnmapped.call(device, from)),
        }),
  }
}
