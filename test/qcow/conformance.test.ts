// The BlockDevice conformance laws over qcow devices: on a RamDisk, read-only, stacked on another qcow device, on a file.
import { afterAll, beforeAll, describe, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { conformanceLaws, type DeviceFactory } from '../../src/block/conformance/index.js'
import { FileBlock } from '../../src/file/index.js'
import { makeQcow, type QcowError } from '../../src/qcow/index.js'
import { Qcow, pattern, ramDisk, run } from './support/harness.js'

const SECTORS = 48
const NUM_RUNS = 40

let dir = ''
let files = 0
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qcow-conformance-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** A fresh image of SECTORS sectors with `clusterSize` clusters, holding `contents` when given. */
const image = async (clusterSize: number, contents?: Uint8Array) => {
  const base = await ramDisk(64 * 1024)
  const device = await run(Qcow.create(base, { size: SECTORS * 512, clusterSize }))
  if (contents !== undefined) await run(device.write(0, [contents]))
  return { base, device }
}

const QcowOverQcow = makeQcow(Qcow)
const QcowOverFile = makeQcow(FileBlock)

const factories: ReadonlyArray<readonly [string, DeviceFactory<QcowError>]> = [
  [
    'qcow over RamDisk, 512-byte clusters',
    async () => {
      const { device } = await image(512)
      return { device, sizeSectors: SECTORS, readWrite: true, release: async () => void (await device.disconnect()()) }
    },
  ],
  [
    'qcow over RamDisk, 4 KiB clusters, with data',
    async () => {
      const contents = pattern(SECTORS * 512, 7)
      const { device } = await image(4096, contents)
      return { device, sizeSectors: SECTORS, readWrite: true, contents, release: async () => void (await device.disconnect()()) }
    },
  ],
  [
    'qcow opened read-only',
    async () => {
      const contents = pattern(SECTORS * 512, 8)
      const { base, device } = await image(1024, contents)
      await run(device.disconnect())
      const readOnly = await run(Qcow.connect(base, { readOnly: true }))
      return { device: readOnly, sizeSectors: SECTORS, readWrite: false, contents, release: async () => void (await readOnly.disconnect()()) }
    },
  ],
  [
    'qcow stacked on a qcow device',
    async () => {
      const base = await ramDisk(64 * 1024)
      const lower = await run(Qcow.create(base, { size: 4 * 1024 * 1024, clusterSize: 4096 }))
      const device = await run(QcowOverQcow.create(lower, { size: SECTORS * 512, clusterSize: 512 }))
      return { device, sizeSectors: SECTORS, readWrite: true, release: async () => void (await device.disconnect()()) }
    },
  ],
  [
    'qcow over a file',
    async () => {
      const path = join(dir, `law-${files++}.qcow2`)
      const file = await run(FileBlock.connect({ path, create: true }))
      const device = await run(QcowOverFile.create(file, { size: SECTORS * 512, clusterSize: 512 }))
      return {
        device,
        sizeSectors: SECTORS,
        readWrite: true,
        release: async () => {
          await device.disconnect()()
          await file.disconnect()()
          await rm(path, { force: true })
        },
      }
    },
  ],
]

for (const [name, factory] of factories) {
  describe(`conformance of ${name}`, () => {
    for (const law of conformanceLaws(factory, { numRuns: NUM_RUNS })) it(law.name, law.run)
  })
}
