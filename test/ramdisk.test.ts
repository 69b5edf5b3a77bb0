// RamDisk: sparseness (memory follows data, not size) and configuration decoding.
import { describe, expect, it } from 'vitest'
import { describeBlockError } from '../src/block/errors.js'
import { RamDisk } from '../src/ramdisk/index.js'
import { left, pattern, right } from './helpers.js'

describe('RamDisk sparseness', () => {
  it('a 1 TiB RamDisk holds no memory until written, and memory grows with writes and shrinks with discards', async () => {
    const disk = right(await RamDisk.connect({ size: 2 ** 40 })())
    expect(right(await disk.getInfo()()).sizeSectors).toBe(2 ** 31)
    expect(disk.allocatedBytes()).toBe(0)
    const far = 2 ** 31 - 1
    right(await disk.write(far, [pattern(512, 1)])())
    const afterOne = disk.allocatedBytes()
    expect(afterOne).toBeGreaterThan(0)
    expect(afterOne).toBeLessThanOrEqual(1024 * 1024)
    right(await disk.write(0, [pattern(512, 2)])())
    expect(disk.allocatedBytes()).toBe(2 * afterOne)
    const back = new Uint8Array(512)
    right(await disk.read(far, [back])())
    expect(back).toEqual(pattern(512, 1))
    right(await disk.discard(0, 2 ** 31)())
    expect(disk.allocatedBytes()).toBe(0)
    right(await disk.read(far, [back])())
    expect(back.every((b) => b === 0)).toBe(true)
    right(await disk.disconnect()())
  })

  it('a read of a never-written region of a huge disk allocates nothing', async () => {
    const disk = right(await RamDisk.connect({ size: 2 ** 40 })())
    right(await disk.read(12345678, [new Uint8Array(1024 * 1024)])())
    expect(disk.allocatedBytes()).toBe(0)
  })
})

describe('RamDisk configuration', () => {
  it('a configuration of the wrong shape is Unsupported naming the field', async () => {
    for (const config of [undefined, null, 'big', [], {}, { size: '1024' }, { size: 1024, readOnly: 1 }]) {
      const error = left(await RamDisk.connect(config as never)())
      expect(error._tag).toBe('Unsupported')
    }
    expect(describeBlockError(left(await RamDisk.connect({ size: '1024' } as never)()))).toContain('size')
  })

  it('a size that is not whole non-negative sectors is Misaligned', async () => {
    for (const size of [100, -512, 1.5, Number.NaN, Infinity, 2 ** 60]) {
      expect(left(await RamDisk.connect({ size })())._tag).toBe('Misaligned')
    }
  })

  it('each run of the connect task opens a new device', async () => {
    const connect = RamDisk.connect({ size: 4096 })
    const a = right(await connect())
    const b = right(await connect())
    right(await a.write(0, [pattern(512, 7)])())
    const back = new Uint8Array(512)
    right(await b.read(0, [back])())
    expect(back.every((x) => x === 0)).toBe(true)
  })
})
