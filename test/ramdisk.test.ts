// RamDisk: sparseness (memory follows data, not size), seeks over its chunks and configuration decoding.
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

describe('RamDisk seeks', () => {
  it('seekMapped/seekUnmapped find the chunks that hold memory, on a 1 TiB disk without visiting its holes', async () => {
    const disk = right(await RamDisk.connect({ size: 2 ** 40 })())
    const size = 2 ** 31
    expect([right(await disk.seekMapped(0)()), right(await disk.seekUnmapped(0)())]).toEqual([size, 0])
    const chunk = 128 // sectors of one 64 KiB chunk
    right(await disk.write(5 * chunk + 3, [pattern(512, 1)])())
    right(await disk.write(6 * chunk, [pattern(512, 2)])())
    right(await disk.write(size - 1, [pattern(512, 3)])())
    expect(right(await disk.seekMapped(0)())).toBe(5 * chunk)
    expect(right(await disk.seekMapped(5 * chunk + 100)())).toBe(5 * chunk + 100)
    expect(right(await disk.seekUnmapped(5 * chunk + 100)())).toBe(7 * chunk)
    expect(right(await disk.seekMapped(7 * chunk)())).toBe(size - chunk)
    expect(right(await disk.seekUnmapped(size - 10)())).toBe(size)
    expect([right(await disk.seekMapped(size)()), right(await disk.seekUnmapped(size + 5)())]).toEqual([size, size])
    right(await disk.discard(5 * chunk, chunk)())
    expect(right(await disk.seekMapped(0)())).toBe(6 * chunk)
    expect(left(await disk.seekMapped(-1)())._tag).toBe('OutOfRange')
    expect(left(await disk.seekUnmapped(0.5)())._tag).toBe('OutOfRange')
  })

  it('answers stop at the end of a disk shrunk inside a chunk', async () => {
    const disk = right(await RamDisk.connect({ size: 64 * 1024 })())
    right(await disk.write(0, [pattern(64 * 1024, 4)])())
    right(await disk.resize(10)())
    expect([right(await disk.seekMapped(3)()), right(await disk.seekUnmapped(3)())]).toEqual([3, 10])
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
