// Us -> QEMU with every mutating operation: random writes, discards, zero writes and resizes by makeQcow(RamDisk), then qemu-img check, compare and info.
import { describe, expect, it } from 'vitest'
import type { CreateOptions, QcowDevice } from '../../src/qcow/api.js'
import { makeQcow } from '../../src/qcow/index.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { seededRandom } from '../../src/testing/prng.js'
import { expectBytes } from '../support/bytes.js'
import { check, compare, describeWithQemu, fileFromDevice, info, ramDiskFromFile, useTempDir, writeBytes } from '../support/qemu.js'
import { readBytes, retainingDisconnect, run, scatter } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB

interface OpsCase {
  readonly name: string
  readonly options: CreateOptions & { readonly size: number; readonly clusterSize: number }
  readonly operations: number
}

const cases: ReadonlyArray<OpsCase> = [
  { name: '512 B clusters, refcount 1', options: { size: 2 * MiB, clusterSize: 512, refcountBits: 1 }, operations: 300 },
  { name: '4 KiB clusters, refcount 16', options: { size: 4 * MiB, clusterSize: 4 * KiB }, operations: 300 },
  { name: '4 KiB clusters, compat 0.10', options: { size: 4 * MiB, clusterSize: 4 * KiB, compat: '0.10' }, operations: 300 },
  { name: '64 KiB clusters, refcount 64, lazy refcounts', options: { size: 8 * MiB, clusterSize: 64 * KiB, refcountBits: 64, lazyRefcounts: true }, operations: 200 },
]

/** A model disk whose size changes: bytes past the current size are gone, growth reads as zeroes. */
class ResizableModel {
  bytes: Uint8Array

  constructor(size: number) {
    this.bytes = new Uint8Array(size)
  }

  resize(size: number): void {
    const next = new Uint8Array(size)
    next.set(this.bytes.subarray(0, Math.min(size, this.bytes.byteLength)))
    this.bytes = next
  }
}

const Qcow = makeQcow(RamDisk)

/** One random operation on `device` and `model`; returns a description for failure messages. */
const randomOperation = async (device: QcowDevice, model: ResizableModel, random: () => number, clusterSize: number, baseSize: number, step: number): Promise<string> => {
  const sizeSectors = model.bytes.byteLength / 512
  const clusterSectors = clusterSize / 512
  const pick = random()
  if (pick < 0.05) {
    // Grow or shrink by a few clusters plus some sectors, within [baseSize / 2, 2 * baseSize].
    const delta = (Math.floor(random() * 7) - 3) * clusterSize + (Math.floor(random() * 3) - 1) * 512
    const size = Math.min(2 * baseSize, Math.max(baseSize / 2, model.bytes.byteLength + delta))
    await run(device.resize(size, { allowShrink: true }), `step ${step}: resize to ${size}`)
    model.resize(size)
    return `resize ${size}`
  }
  const sectors = 1 + Math.floor(random() * Math.min(sizeSectors, 3 * clusterSectors))
  const sector = Math.floor(random() * (sizeSectors - sectors + 1))
  if (pick < 0.15) {
    await run(device.discard(sector, sectors), `step ${step}: discard ${sectors} at ${sector}`)
    model.bytes.fill(0, sector * 512, (sector + sectors) * 512)
    return `discard ${sector}+${sectors}`
  }
  if (pick < 0.25) {
    const unmap = random() < 0.5
    await run(device.writeZeroes(sector, sectors, { unmap }), `step ${step}: writeZeroes ${sectors} at ${sector}`)
    model.bytes.fill(0, sector * 512, (sector + sectors) * 512)
    return `writeZeroes ${sector}+${sectors}${unmap ? ' unmap' : ''}`
  }
  const data = new Uint8Array(sectors * 512).fill(1 + (step % 255))
  for (let i = 0; i < data.length; i += 512) data[i] = step & 255
  await run(device.write(sector, scatter(data, random)), `step ${step}: write ${sectors} at ${sector}`)
  model.bytes.set(data, sector * 512)
  return `write ${sector}+${sectors}`
}

describeWithQemu('us -> QEMU: writes, discards, zero writes and resizes checked by qemu-img', () => {
  const tmp = useTempDir('qcow-ts-u2q-ops-')

  cases.forEach((c, index) => {
    it(c.name, async () => {
      const random = seededRandom(0x0b5 + index)
      const model = new ResizableModel(c.options.size)
      const ram = await run(RamDisk.connect({ size: 0 }), 'RamDisk.connect')
      const device = await run(Qcow.create(retainingDisconnect(ram), c.options), 'create')
      const history: string[] = []
      for (let step = 0; step < c.operations; step++) {
        history.push(await randomOperation(device, model, random, c.options.clusterSize, c.options.size, step))
        if (step % 50 === 49) await run(device.flush(), 'flush')
      }
      expectBytes(await readBytes(device, model.bytes.byteLength), model.bytes, 'our reads vs the model')
      await run(device.disconnect(), 'disconnect')

      const image = tmp.file(`ops-${index}.qcow2`)
      const modelRaw = tmp.file(`ops-${index}.raw`)
      await fileFromDevice(ram, image)
      await writeBytes(modelRaw, model.bytes)
      const result = await check(image)
      const summary = `${JSON.stringify(result.report)} ${result.stderr.trim()} after: ${history.slice(-12).join(', ')}`
      expect(result.code, summary).toBe(0)
      expect(result.report?.leaks ?? 0, summary).toBe(0)
      expect(result.report?.corruptions ?? 0, summary).toBe(0)
      expect((await info(image))['virtual-size']).toBe(model.bytes.byteLength)
      const same = await compare(image, modelRaw, { formatB: 'raw' })
      expect(same.code, same.stdout + same.stderr).toBe(0)

      const reopened = await run(Qcow.connect(await ramDiskFromFile(image), { readOnly: true }), 'reopen')
      expectBytes(await readBytes(reopened, model.bytes.byteLength), model.bytes, 'reopened image vs model')
      await run(reopened.disconnect(), 'disconnect reopened')
    })
  })
})

describe('regression: discard and zero writes starting in an unallocated cluster', () => {
  // Minimal case once found by the random operations above: 4 KiB clusters, data in sectors 8..12
  // (cluster 1), then sectors 4..12 discarded (a partial unallocated cluster 0, then part of cluster 1)
  // left sectors 8..12 holding their data.
  for (const [compat, operation] of [
    ['1.1', 'discard'],
    ['1.1', 'writeZeroes'],
    ['0.10', 'discard'],
    ['0.10', 'writeZeroes'],
  ] as const) {
    it(`${operation} on a compat ${compat} image clears the partly covered allocated cluster`, async () => {
      const ram = await run(RamDisk.connect({ size: 0 }), 'RamDisk.connect')
      const device = await run(Qcow.create(ram, { size: MiB, clusterSize: 4 * KiB, compat }), 'create')
      await run(device.write(8, [new Uint8Array(5 * 512).fill(0xaa)]), 'write')
      await run(operation === 'discard' ? device.discard(4, 9) : device.writeZeroes(4, 9), operation)
      const got = new Uint8Array(16 * 512)
      await run(device.read(0, [got]), 'read')
      expectBytes(got, new Uint8Array(16 * 512), 'sectors 0..15 after the operation')
    })
  }
})
