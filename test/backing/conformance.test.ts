// The BlockDevice conformance laws over qcow overlays: reads, writes, zeroing and chain-aware seeks on an overlay over a sparse RamDisk.
import { describe, it } from 'vitest'
import { conformanceLaws, type DeviceFactory } from '../../src/block/conformance/index.js'
import type { QcowError } from '../../src/qcow/index.js'
import { Qcow, pattern, ramDisk, run } from '../qcow/support/harness.js'

const SECTORS = 384
/** RamDisk memory chunks are 64 KiB: 128 sectors. */
const CHUNK = 128

/**
 * An overlay of SECTORS sectors with `clusterSize` clusters over a RamDisk of `backingSectors` sectors
 * holding data in its first and third chunks only (the rest unmapped), with a few overlay writes.
 */
const overlay =
  (clusterSize: number, backingSectors: number): DeviceFactory<QcowError> =>
  async () => {
    const backing = await ramDisk(backingSectors * 512)
    const held = pattern(backingSectors * 512, 3)
    held.fill(0, CHUNK * 512, 2 * CHUNK * 512)
    held.fill(0, 3 * CHUNK * 512)
    await run(backing.write(0, [held.subarray(0, Math.min(CHUNK, backingSectors) * 512)]))
    if (backingSectors > 2 * CHUNK) await run(backing.write(2 * CHUNK, [held.subarray(2 * CHUNK * 512, 3 * CHUNK * 512)]))
    const device = await run(Qcow.create(await ramDisk(0), { size: SECTORS * 512, clusterSize, backingFile: 'b', backing }))
    const contents = new Uint8Array(SECTORS * 512)
    contents.set(held.subarray(0, Math.min(SECTORS, backingSectors) * 512))
    const written = pattern(20 * 512, 4)
    for (const sector of [5, 150, 300]) {
      await run(device.write(sector, [written]))
      contents.set(written, sector * 512)
    }
    return {
      device,
      sizeSectors: SECTORS,
      readWrite: true,
      contents,
      release: async () => {
        await device.disconnect()()
        await backing.disconnect()()
      },
    }
  }

const factories: ReadonlyArray<readonly [string, DeviceFactory<QcowError>]> = [
  ['a qcow overlay over a longer sparse RamDisk, 4 KiB clusters', overlay(4096, 3 * CHUNK + 64)],
  ['a qcow overlay over a shorter sparse RamDisk, 512-byte clusters', overlay(512, 2 * CHUNK + 40)],
]

for (const [name, factory] of factories) {
  describe(`conformance of ${name}`, () => {
    for (const law of conformanceLaws(factory, { numRuns: 30 })) it(law.name, law.run)
  })
}
