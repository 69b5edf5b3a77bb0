// The module's contract at its edges: option decoding, NoSpace, ReadOnly, OutOfRange, Disconnected, stacking, Debug.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { unsupported } from '../../src/block/errors.js'
import type { BlockDevice } from '../../src/block/device.js'
import { makeQcow, type QcowError } from '../../src/qcow/index.js'
import { Qcow, pattern, ramDisk, run, runLeft } from './support/harness.js'

describe('create options are decoded at the boundary', () => {
  const bad: Array<[string, unknown, string]> = [
    ['no options', undefined, 'InvalidImage'],
    ['size as a string', { size: '1G' }, 'InvalidImage'],
    ['negative size', { size: -512 }, 'InvalidImage'],
    ['size not a multiple of 512', { size: 1000 }, 'InvalidImage'],
    ['size past what an L1 table maps', { size: 2 ** 52, clusterSize: 512 }, 'InvalidImage'],
    ['cluster size 1000', { size: 1 << 20, clusterSize: 1000 }, 'InvalidImage'],
    ['cluster size 256', { size: 1 << 20, clusterSize: 256 }, 'InvalidImage'],
    ['cluster size 4 MiB', { size: 1 << 20, clusterSize: 4 << 20 }, 'InvalidImage'],
    ['refcount width 3', { size: 1 << 20, refcountBits: 3 }, 'InvalidImage'],
    ['refcount width 128', { size: 1 << 20, refcountBits: 128 }, 'InvalidImage'],
    ['compat 2', { size: 1 << 20, compat: '2' }, 'InvalidImage'],
    ['v2 with 64-bit refcounts', { size: 1 << 20, compat: '0.10', refcountBits: 64 }, 'UnsupportedFeature'],
    ['v2 with lazy refcounts', { size: 1 << 20, compat: '0.10', lazyRefcounts: true }, 'UnsupportedFeature'],
  ]
  for (const [name, options, tag] of bad) {
    it(`${name} -> ${tag}`, async () => {
      const e = await runLeft(Qcow.create(await ramDisk(1 << 20), options as never))
      expect(e._tag).toBe(tag)
    })
  }

  it('bad connect options are refused', async () => {
    const base = await ramDisk(1 << 20)
    await run(Qcow.create(base, { size: 1 << 20 }))
    expect((await runLeft(Qcow.connect(base, { readOnly: 'yes' } as never)))._tag).toBe('InvalidImage')
    expect((await runLeft(Qcow.connect(base, { l2CacheBytes: -1 })))._tag).toBe('InvalidImage')
  })
})

/** A RamDisk without `resize`: a device that cannot grow. */
const fixedSize = async (bytes: number): Promise<BlockDevice<QcowError>> => {
  const disk = await ramDisk(bytes)
  return {
    getInfo: () => disk.getInfo(),
    read: (sector, buffers) => disk.read(sector, buffers),
    write: (sector, buffers) => disk.write(sector, buffers),
    flush: () => disk.flush(),
    disconnect: () => disk.disconnect(),
  }
}

const QcowOverFixed = makeQcow<void, BlockDevice<QcowError>>({ name: 'Fixed', connect: () => TE.left(unsupported('connect')) })

describe('device errors', () => {
  it('NoSpace when the base cannot grow and the image does not fit', async () => {
    expect((await runLeft(QcowOverFixed.create(await fixedSize(128 * 1024), { size: 1 << 30 })))._tag).toBe('NoSpace')
    const device = await run(QcowOverFixed.create(await fixedSize(6 * 4096), { size: 1 << 20, clusterSize: 4096 }))
    await run(device.write(0, [new Uint8Array(4096)]))
    expect((await runLeft(device.write(64, [new Uint8Array(8192)])))._tag).toBe('NoSpace')
  })

  it('ReadOnly, OutOfRange, Misaligned and Disconnected', async () => {
    const base = await ramDisk(1 << 20)
    const writable = await run(Qcow.create(base, { size: 1 << 20 }))
    expect((await runLeft(writable.write(2048, [new Uint8Array(512)])))._tag).toBe('OutOfRange')
    expect((await runLeft(writable.read(2047, [new Uint8Array(1024)])))._tag).toBe('OutOfRange')
    expect((await runLeft(writable.write(0, [new Uint8Array(100)])))._tag).toBe('Misaligned')
    await run(writable.disconnect())
    expect((await runLeft(writable.read(0, [new Uint8Array(512)])))._tag).toBe('Disconnected')
    const readOnly = await run(Qcow.connect(base, { readOnly: true }))
    expect(await run(readOnly.getInfo())).toEqual({ readWrite: false, sectorSize: 512, sizeSectors: 2048 })
    expect((await runLeft(readOnly.write(0, [new Uint8Array(512)])))._tag).toBe('ReadOnly')
  })
})

describe('the module', () => {
  it('is named after its base and stacks on itself', async () => {
    const Stacked = makeQcow(Qcow)
    expect(Qcow.name).toBe('Qcow(RamDisk)')
    expect(Stacked.name).toBe('Qcow(Qcow(RamDisk))')
    const lower = await run(Qcow.create(await ramDisk(1 << 20), { size: 64 << 20 }))
    const upper = await run(Stacked.create(lower, { size: 16 << 20, clusterSize: 4096 }))
    const data = pattern(12288, 9)
    await run(upper.write(100, [data]))
    await run(upper.disconnect())
    const again = await run(Stacked.connect(lower))
    const out = new Uint8Array(data.byteLength)
    await run(again.read(100, [out]))
    expect(out).toEqual(data)
  })

  it('Debug.setNextCluster steers the allocator', async () => {
    const base = await ramDisk(1 << 20)
    const device = await run(Qcow.create(base, { size: 64 << 20, clusterSize: 4096 }))
    await run(Qcow.Debug.setNextCluster(device, 1000))
    await run(device.write(0, [pattern(4096, 1)]))
    await run(device.flush())
    // The L2 table and the data cluster both come from cluster 1000 on.
    const probe = new Uint8Array(4096)
    await run(base.read((1001 * 4096) / 512, [probe]))
    expect(probe).toEqual(pattern(4096, 1))
    expect(E.isLeft(await Qcow.Debug.setNextCluster(device, -1)())).toBe(true)
  })
})
