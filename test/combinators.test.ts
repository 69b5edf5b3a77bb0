// slice and readOnly: window checks, shifting, capability forwarding and views that do not own the device.
import { describe, expect, it } from 'vitest'
import { readOnly } from '../src/block/readonly.js'
import { slice } from '../src/block/slice.js'
import type { BlockDevice } from '../src/block/device.js'
import { RamDisk } from '../src/ramdisk/index.js'
import { left, pattern, right } from './helpers.js'

describe('slice', () => {
  it('refuses a window outside the device', async () => {
    const disk = right(await RamDisk.connect({ size: 64 * 512 })())
    for (const [start, n] of [[60, 5], [-1, 2], [0.5, 2], [0, 65], [Number.MAX_SAFE_INTEGER, 1]]) {
      expect(left(await slice(disk, start, n)())._tag).toBe('OutOfRange')
    }
    right(await slice(disk, 64, 0)())
  })

  it('shifts requests by the window start and checks them against the window size', async () => {
    const disk = right(await RamDisk.connect({ size: 64 * 512 })())
    const window = right(await slice(disk, 10, 8)())
    expect(right(await window.getInfo()())).toEqual({ readWrite: true, sectorSize: 512, sizeSectors: 8 })
    right(await window.write(7, [pattern(512, 1)])())
    const back = new Uint8Array(512)
    right(await disk.read(17, [back])())
    expect(back).toEqual(pattern(512, 1))
    expect(left(await window.write(8, [back])())._tag).toBe('OutOfRange')
    expect(left(await window.read(7, [new Uint8Array(1024)])())._tag).toBe('OutOfRange')
    expect(left(await window.discard!(6, 3)())._tag).toBe('OutOfRange')
    right(await window.discard!(7, 1)())
    right(await disk.read(17, [back])())
    expect(back.every((b) => b === 0)).toBe(true)
    expect(window.resize).toBeUndefined()
  })

  it('offers discard and writeZeroes only when the device has them', async () => {
    const disk = right(await RamDisk.connect({ size: 64 * 512 })())
    const bare: BlockDevice = {
      getInfo: () => disk.getInfo(),
      read: (sector, buffers) => disk.read(sector, buffers),
      write: (sector, buffers) => disk.write(sector, buffers),
      flush: () => disk.flush(),
      disconnect: () => disk.disconnect(),
    }
    const window = right(await slice(bare, 0, 8)())
    expect(window.discard).toBeUndefined()
    expect(window.writeZeroes).toBeUndefined()
  })

  it('disconnecting the window leaves the device connected', async () => {
    const disk = right(await RamDisk.connect({ size: 64 * 512 })())
    const window = right(await slice(disk, 0, 8)())
    right(await window.disconnect()())
    expect(left(await window.read(0, [new Uint8Array(512)])())._tag).toBe('Disconnected')
    right(await disk.read(0, [new Uint8Array(512)])())
  })
})

describe('readOnly', () => {
  it('reads through, refuses every change and reports readWrite false', async () => {
    const disk = right(await RamDisk.connect({ size: 16 * 512 })())
    right(await disk.write(3, [pattern(512, 2)])())
    const view = readOnly(disk)
    expect(right(await view.getInfo()()).readWrite).toBe(false)
    const back = new Uint8Array(512)
    right(await view.read(3, [back])())
    expect(back).toEqual(pattern(512, 2))
    expect(left(await view.write(3, [new Uint8Array(512)])())._tag).toBe('ReadOnly')
    expect(left(await view.discard!(0, 1)())._tag).toBe('ReadOnly')
    expect(left(await view.writeZeroes!(0, 1)())._tag).toBe('ReadOnly')
    expect(left(await view.resize!(1)())._tag).toBe('ReadOnly')
    right(await disk.read(3, [back])())
    expect(back).toEqual(pattern(512, 2))
    right(await view.disconnect()())
    expect(left(await view.read(0, [back])())._tag).toBe('Disconnected')
    right(await disk.read(0, [back])())
  })
})
