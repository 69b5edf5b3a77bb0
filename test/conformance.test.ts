// The conformance laws over every device of the package: RamDisk, FileBlock, slice and readOnly.
import { afterAll, beforeAll, describe, it } from 'vitest'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { conformanceLaws, type DeviceFactory, type FreshDevice } from '../src/block/conformance/index.js'
import type { BlockDevice } from '../src/block/device.js'
import type { BlockError } from '../src/block/errors.js'
import { readOnly } from '../src/block/readonly.js'
import { slice } from '../src/block/slice.js'
import { FileBlock } from '../src/file/index.js'
import { RamDisk } from '../src/ramdisk/index.js'
import { pattern, right, tempDir } from './helpers.js'

const NUM_RUNS = 100
const SECTORS = 48

let dir: { readonly path: string; remove(): Promise<void> }
let files = 0
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(async () => {
  await dir.remove()
})

const disconnecting = (device: BlockDevice) => async (): Promise<void> => {
  await device.disconnect()()
}

/** A file holding `bytes`, opened as a FileBlock; released by disconnecting and deleting the file. */
const fileDevice = async (bytes: Uint8Array, readOnlyFile: boolean): Promise<FreshDevice<BlockError>> => {
  const path = join(dir.path, `law-${files++}.img`)
  await writeFile(path, bytes)
  const device = right(await FileBlock.connect({ path, readOnly: readOnlyFile })())
  const sizeSectors = Math.ceil(bytes.byteLength / 512)
  const contents = new Uint8Array(sizeSectors * 512)
  contents.set(bytes)
  return {
    device,
    sizeSectors,
    readWrite: !readOnlyFile,
    contents,
    release: async () => {
      await device.disconnect()()
      await rm(path, { force: true })
    },
  }
}

/** A RamDisk of `sectors` sectors holding a pattern. */
const filledRamDisk = async (sectors: number, seed: number): Promise<{ device: BlockDevice; contents: Uint8Array }> => {
  const device = right(await RamDisk.connect({ size: sectors * 512 })())
  const contents = pattern(sectors * 512, seed)
  right(await device.write(0, [contents])())
  return { device, contents }
}

const devices: ReadonlyArray<readonly [string, DeviceFactory<BlockError>]> = [
  [
    'RamDisk',
    async () => {
      const device = right(await RamDisk.connect({ size: SECTORS * 512 })())
      return { device, sizeSectors: SECTORS, readWrite: true, release: disconnecting(device) }
    },
  ],
  [
    'RamDisk of three memory chunks',
    async () => {
      const device = right(await RamDisk.connect({ size: 3 * 128 * 512 })())
      return { device, sizeSectors: 3 * 128, readWrite: true, release: disconnecting(device) }
    },
  ],
  [
    'RamDisk opened read-only',
    async () => {
      const device = right(await RamDisk.connect({ size: SECTORS * 512, readOnly: true })())
      return { device, sizeSectors: SECTORS, readWrite: false, release: disconnecting(device) }
    },
  ],
  ['FileBlock', () => fileDevice(pattern(SECTORS * 512, 1), false)],
  ['FileBlock over a file with a partial last sector', () => fileDevice(pattern(SECTORS * 512 - 300, 2), false)],
  ['FileBlock opened read-only', () => fileDevice(pattern(SECTORS * 512 - 1, 3), true)],
  [
    'slice of a RamDisk',
    async () => {
      const { device, contents } = await filledRamDisk(SECTORS + 20, 4)
      const window = right(await slice(device, 13, SECTORS)())
      return { device: window, sizeSectors: SECTORS, readWrite: true, contents: contents.slice(13 * 512, (13 + SECTORS) * 512), release: disconnecting(device) }
    },
  ],
  [
    'slice of a FileBlock',
    async () => {
      const file = await fileDevice(pattern((SECTORS + 9) * 512, 5), false)
      const window = right(await slice(file.device, 9, SECTORS)())
      return { device: window, sizeSectors: SECTORS, readWrite: true, contents: file.contents!.slice(9 * 512), release: file.release }
    },
  ],
  [
    'readOnly of a RamDisk',
    async () => {
      const { device, contents } = await filledRamDisk(SECTORS, 6)
      return { device: readOnly(device), sizeSectors: SECTORS, readWrite: false, contents, release: disconnecting(device) }
    },
  ],
]

for (const [name, factory] of devices) {
  describe(`conformance of ${name}`, () => {
    for (const law of conformanceLaws(factory, { numRuns: NUM_RUNS })) it(law.name, law.run)
  })
}
