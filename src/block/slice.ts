// The slice combinator: a partition-like window of consecutive sectors of a device.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockInfo } from './device.js'
import { disconnected, type BlockError } from './errors.js'
import { checkRange, checkRequest, checkSeekStart } from './validate.js'

/**
 * Opens a window of `sectors` sectors of `device` starting at `startSector`, after checking the
 * window lies inside the device. The window checks every request against its own size and shifts
 * it; `discard`, `writeZeroes` and the seeks (answers capped at the window's end) are offered only when
 * `device` has them, `resize` never.
 * Disconnecting the window ends the window only; `device` stays connected and is its owner's to close.
 */
export const slice =
  <E>(device: BlockDevice<E>, startSector: number, sectors: number): TE.TaskEither<E | BlockError, BlockDevice<E | BlockError>> =>
  async () => {
    const info = await device.getInfo()()
    if (E.isLeft(info)) return info
    const inside = checkRange(startSector, sectors, info.right.sizeSectors)
    return E.isLeft(inside) ? inside : E.right(window(device, startSector, sectors, info.right.sectorSize))
  }

const window = <E>(device: BlockDevice<E>, start: number, sectors: number, sectorSize: number): BlockDevice<E | BlockError> => {
  let connected = true
  const checked =
    (check: () => E.Either<BlockError, unknown>, forward: () => TE.TaskEither<E, void>): TE.TaskEither<E | BlockError, void> =>
    () => {
      if (!connected) return Promise.resolve(E.left(disconnected()))
      const valid = check()
      return E.isLeft(valid) ? Promise.resolve(valid) : forward()()
    }
  const always = (): E.Either<BlockError, void> => E.right(undefined)
  const { discard, writeZeroes, seekMapped, seekUnmapped } = device
  const seek =
    (op: (this: BlockDevice<E>, from: number) => TE.TaskEither<E, number>) =>
    (from: number): TE.TaskEither<E | BlockError, number> =>
    async () => {
      if (!connected) return E.left(disconnected())
      const valid = checkSeekStart(from, sectors)
      if (E.isLeft(valid) || valid.right === sectors) return valid
      return E.map((found: number) => Math.min(sectors, found - start))(await op.call(device, start + valid.right)())
    }
  return {
    getInfo: () => () =>
      connected
        ? device.getInfo()().then(E.map((info: BlockInfo): BlockInfo => ({ readWrite: info.readWrite, sectorSize, sizeSectors: sectors })))
        : Promise.resolve(E.left(disconnected())),
    read: (sector, buffers) =>
      checked(() => checkRequest(sector, buffers, sectorSize, sectors), () => device.read(start + sector, buffers)),
    write: (sector, buffers) =>
      checked(() => checkRequest(sector, buffers, sectorSize, sectors), () => device.write(start + sector, buffers)),
    flush: () => checked(always, () => device.flush()),
    disconnect: () =>
      checked(always, () => () => {
        connected = false
        return Promise.resolve(E.right(undefined))
      }),
    ...(discard === undefined
      ? {}
      : { discard: (sector: number, n: number) => checked(() => checkRange(sector, n, sectors), () => discard.call(device, start + sector, n)) }),
    ...(writeZeroes === undefined
      ? {}
      : {
          writeZeroes: (sector: number, n: number) =>
            checked(() => checkRange(sector, n, sectors), () => writeZeroes.call(device, start + sector, n)),
        }),
    ...(seekMapped === undefined || seekUnmapped === undefined ? {} : { seekMapped: seek(seekMapped), seekUnmapped: seek(seekUnmapped) }),
  }
}
