// Offsets past 4 GiB both ways: guest offsets in an 8 GiB disk, and host offsets steered above 4 GiB with Debug.setNextCluster.
import { expect, it } from 'vitest'
import { makeQcow } from '../../src/qcow/index.js'
import type { CreateOptions } from '../../src/qcow/api.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { seededRandom } from '../../src/testing/prng.js'
import { expectBytes } from '../support/bytes.js'
import { check, compare, createImage, describeWithQemu, info, qemuIoOk, ramDiskFromFile, useTempDir, writeSparseFile } from '../support/qemu.js'
import { dumpSparse, run, SparseModel, trackedRamDisk } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** Byte ranges around the 4 GiB line and near the end of the disk (those that fit), plus a few random ones. */
const rangesFor = (random: () => number, size: number): { offset: number; length: number }[] =>
  [
  { offset: 0, length: 70 * KiB },
  { offset: 4 * GiB - 3 * KiB, length: 9 * KiB },
  { offset: 5 * GiB + 512, length: 130 * KiB },
  { offset: size - 100 * KiB, length: 100 * KiB },
  ...Array.from({ length: 6 }, () => ({ offset: 512 * Math.floor((random() * (size - MiB)) / 512), length: 512 * (1 + Math.floor(random() * 256)) })),
  ].filter((r) => r.offset + r.length <= size)

interface HostCase {
  readonly name: string
  readonly options: CreateOptions & { readonly size: number; readonly clusterSize: number }
  /** Host cluster the allocator is steered to, halfway through the writes. */
  readonly steerTo: number
}

const hostCases: ReadonlyArray<HostCase> = [
  { name: '64 KiB clusters, data and L2 tables above 4 GiB in the image file', options: { size: 8 * GiB, clusterSize: 64 * KiB }, steerTo: (5 * GiB) / (64 * KiB) + 3 },
  { name: '512 B clusters, refcount 64: refcount structures must reach 4 GiB', options: { size: 64 * MiB, clusterSize: 512, refcountBits: 64 }, steerTo: (4 * GiB) / 512 + 17 },
  { name: 'a 4 TiB disk written at both ends, data steered past 4 GiB (2 MiB clusters)', options: { size: 4 * 1024 * GiB, clusterSize: 2 * MiB }, steerTo: (6 * GiB) / (2 * MiB) },
]

const Qcow = makeQcow(RamDisk)

describeWithQemu('offsets past 4 GiB', () => {
  const tmp = useTempDir('qcow-ts-big-')

  hostCases.forEach((c, index) => {
    it(`us -> QEMU: ${c.name}`, async () => {
      const random = seededRandom(0xb16 + index)
      const size = c.options.size
      const model = new SparseModel()
      const base = trackedRamDisk(await run(RamDisk.connect({ size: 0 }), 'RamDisk.connect'))
      const device = await run(Qcow.create(base, c.options), 'create')
      const ranges = rangesFor(random, size)
      for (const [i, r] of ranges.entries()) {
        if (i === 2) await run(Qcow.Debug.setNextCluster(device, c.steerTo), 'setNextCluster')
        const bytes = new Uint8Array(r.length).map((_, k) => ((k >> 9) + i * 37 + 1) & 255 || 1)
        await run(device.write(r.offset / 512, [bytes]), `write at ${r.offset}`)
        model.write(r.offset, bytes)
      }
      await run(device.disconnect(), 'disconnect')

      const image = tmp.file(`host-${index}.qcow2`)
      const modelRaw = tmp.file(`host-${index}.raw`)
      await dumpSparse(base, image)
      await writeSparseFile(modelRaw, size, model.entries())
      const geometry = await run(base.getInfo(), 'getInfo')
      expect(geometry.sizeSectors * 512).toBeGreaterThan(4 * GiB)
      const result = await check(image)
      expect(result.code, `${JSON.stringify(result.report)} ${result.stderr}`).toBe(0)
      expect(result.report?.leaks ?? 0).toBe(0)
      const same = await compare(image, modelRaw, { formatB: 'raw' })
      expect(same.code, same.stdout + same.stderr).toBe(0)
      expect((await info(image))['virtual-size']).toBe(size)
    })
  })

  it('QEMU -> us: qemu-io data past 4 GiB in an 8 GiB disk reads back through makeQcow', async () => {
    const random = seededRandom(0xb17)
    const size = 8 * GiB
    const image = tmp.file('guest.qcow2')
    await createImage(image, { size, clusterSize: 64 * KiB })
    const ranges = rangesFor(random, size)
    const model = new SparseModel()
    await qemuIoOk(image, ranges.map((r, i) => `write -P 0x${(i + 0x41).toString(16)} ${r.offset} ${r.length}`))
    ranges.forEach((r, i) => model.write(r.offset, new Uint8Array(r.length).fill(i + 0x41)))
    const device = await run(Qcow.connect(await ramDiskFromFile(image), { readOnly: true }), 'connect')
    for (const r of ranges) {
      // Read a little around each range too, to see the zeroes on both sides.
      const start = Math.max(0, r.offset - 4 * KiB)
      const length = Math.min(size - start, r.length + 8 * KiB)
      const got = new Uint8Array(length)
      await run(device.read(start / 512, [got]), `read at ${start}`)
      expectBytes(got, model.read(start, length), `bytes at ${start}`)
    }
    await run(device.disconnect(), 'disconnect')
  })
})
