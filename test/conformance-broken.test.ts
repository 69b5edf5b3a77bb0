// The conformance laws catch broken devices: each deliberately broken RamDisk wrapper fails the law it breaks.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import { conformanceLaws, type DeviceFactory, type Law } from '../src/block/conformance/index.js'
import type { BlockDevice } from '../src/block/device.js'
import { ioError, type BlockError } from '../src/block/errors.js'
import { RamDisk } from '../src/ramdisk/index.js'
import { right } from './helpers.js'

const SECTORS = 32

/** A factory of RamDisks seen through `breakIt`. */
const brokenFactory =
  (breakIt: (disk: BlockDevice) => BlockDevice, readWrite = true): DeviceFactory<BlockError> =>
  async () => {
    const disk = right(await RamDisk.connect({ size: SECTORS * 512 })())
    return { device: breakIt(disk), sizeSectors: SECTORS, readWrite, release: async () => void (await disk.disconnect()()) }
  }

/** Every operation of `disk`, forwarded; overrides replace some. */
const forwarding = (disk: BlockDevice, overrides: Partial<BlockDevice>): BlockDevice => ({
  getInfo: () => disk.getInfo(),
  read: (sector, buffers) => disk.read(sector, buffers),
  write: (sector, buffers) => disk.write(sector, buffers),
  flush: () => disk.flush(),
  disconnect: () => disk.disconnect(),
  ...overrides,
})

const lawNamed = (factory: DeviceFactory<BlockError>, start: string): Law => {
  const law = conformanceLaws(factory, { numRuns: 100 }).find((l) => l.name.startsWith(start))
  if (law === undefined) throw new Error(`no law named ${start}…`)
  return law
}

/** Expects the law to fail with a fast-check counterexample whose cause mentions `cause`. */
const expectFailure = async (law: Law, cause: RegExp): Promise<void> => {
  const failure = await law.run().then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(failure, `${law.name} should have failed`).toBeInstanceOf(Error)
  const error = failure as Error
  expect(error.message).toContain('Counterexample')
  expect(`${error.message} ${String((error as { cause?: unknown }).cause)}`).toMatch(cause)
}

describe('the conformance laws fail on broken devices', () => {
  it('a device that drops every third write breaks the model law', async () => {
    let writes = 0
    const factory = brokenFactory((disk) =>
      forwarding(disk, { write: (sector, buffers) => (++writes % 3 === 0 ? () => Promise.resolve(E.right(undefined)) : disk.write(sector, buffers)) }),
    )
    await expectFailure(lawNamed(factory, 'reads return'), /differs/)
  })

  it('a device whose scatter read throws breaks the model law', async () => {
    const factory = brokenFactory((disk) =>
      forwarding(disk, {
        read: (sector, buffers) => {
          if (buffers.length > 1) throw new TypeError('scatter not implemented')
          return disk.read(sector, buffers)
        },
      }),
    )
    await expectFailure(lawNamed(factory, 'reads return'), /threw or rejected/)
  })

  it('a device whose flush rejects breaks the model law', async () => {
    const factory = brokenFactory((disk) => forwarding(disk, { flush: () => () => Promise.reject(new Error('fsync failed')) }))
    await expectFailure(lawNamed(factory, 'reads return'), /threw or rejected/)
  })

  it('a device that keeps the caller\'s buffer instead of copying breaks the model law', async () => {
    const kept = new Map<number, Uint8Array>()
    const factory = brokenFactory((disk) =>
      forwarding(disk, {
        write: (sector, buffers) => () => {
          let s = sector
          for (const b of buffers) for (let i = 0; i < b.byteLength; i += 512) kept.set(s++, b.subarray(i, i + 512))
          return Promise.resolve(E.right(undefined))
        },
        read: (sector, buffers) => async () => {
          const result = await disk.read(sector, buffers)()
          let s = sector
          for (const b of buffers) for (let i = 0; i < b.byteLength; i += 512) b.set(kept.get(s++) ?? new Uint8Array(512), i)
          return result
        },
      }),
    )
    await expectFailure(lawNamed(factory, 'reads return'), /differs/)
  })

  it('a read-only device that accepts writes breaks the model law', async () => {
    const factory = brokenFactory(
      (disk) => forwarding(disk, { getInfo: () => async () => E.map((i: { sectorSize: number; sizeSectors: number }) => ({ ...i, readWrite: false }))(await disk.getInfo()()) }),
      false,
    )
    await expectFailure(lawNamed(factory, 'reads return'), /succeeded; expected ReadOnly/)
  })

  it('a device that reports a bad range as an I/O error breaks the arguments law', async () => {
    const asIo = <A>(result: E.Either<BlockError, A>): E.Either<BlockError, A> =>
      E.isLeft(result) && result.left._tag === 'OutOfRange' ? E.left(ioError('read', new Error('EINVAL'))) : result
    const factory = brokenFactory((disk) => forwarding(disk, { read: (sector, buffers) => async () => asIo(await disk.read(sector, buffers)()) }))
    await expectFailure(lawNamed(factory, 'bad arguments'), /expected OutOfRange/)
  })

  it('a device that reports sectors holding data as unmapped breaks the model law', async () => {
    const factory = brokenFactory((disk) =>
      forwarding(disk, {
        seekMapped: () => () => Promise.resolve(E.right(SECTORS)),
        seekUnmapped: (from) => () => Promise.resolve(E.right(Math.min(from, SECTORS))),
      }),
    )
    await expectFailure(lawNamed(factory, 'reads return'), /unmapped but sector \d+ holds data/)
  })

  it('a device whose seek runs past its end breaks the model law', async () => {
    const factory = brokenFactory((disk) => forwarding(disk, { seekMapped: () => () => Promise.resolve(E.right(SECTORS + 1)), seekUnmapped: (from) => disk.seekUnmapped!(from) }))
    await expectFailure(lawNamed(factory, 'reads return'), /returned 33 on a device of 32 sectors/)
  })

  it('a device that keeps working after disconnect breaks the disconnect law', async () => {
    const factory = brokenFactory((disk) => forwarding(disk, { disconnect: () => () => Promise.resolve(E.right(undefined)) }))
    await expectFailure(lawNamed(factory, 'requests in flight'), /after disconnect/)
  })

  it('a device that writes each sector in two halves at different times breaks the concurrency law', async () => {
    let writes = 0
    const factory = brokenFactory((disk) =>
      forwarding(disk, {
        write: (sector, buffers) => async () => {
          const delay = writes++ % 2 === 0 ? 2 : 0
          const data = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0))
          let at = 0
          for (const b of buffers) {
            data.set(b, at)
            at += b.byteLength
          }
          const old = new Uint8Array(data.byteLength)
          await disk.read(sector, [old])()
          const firstHalves = old.slice()
          for (let i = 0; i < data.byteLength; i += 512) firstHalves.set(data.subarray(i, i + 256), i)
          await disk.write(sector, [firstHalves])()
          await new Promise((resolve) => setTimeout(resolve, delay))
          const current = new Uint8Array(data.byteLength)
          await disk.read(sector, [current])()
          for (let i = 0; i < data.byteLength; i += 512) current.set(data.subarray(i + 256, i + 512), i + 256)
          return disk.write(sector, [current])()
        },
      }),
    )
    await expectFailure(lawNamed(factory, 'concurrent'), /neither its old contents nor those of one request/)
  })
})
