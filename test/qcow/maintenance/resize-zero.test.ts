// resize cross-checked with qemu-img info/check/compare (including growth needing a larger L1 and refcount table), and discard/writeZeroes semantics.
import { describe, expect, it } from 'vitest'
import type { QcowDevice } from '../../../src/qcow/index.js'
import { check as qemuCheck, compare, describeWithQemu, info, useTempDir, writeBytes } from '../../support/qemu.js'
import { Qcow, pattern, ramDisk, run, runLeft, sameBytes } from '../support/harness.js'
import { openFile, qemuImage, saveTo } from './support.js'

const K = 1024
const M = K * K

/** Asserts the saved image passes qemu-img check, has `size` bytes and the model's content. */
const expectQemuAgrees = async (path: string, size: number, model: Uint8Array, rawPath: string): Promise<void> => {
  const c = await qemuCheck(path)
  expect(c.code, c.stderr).toBe(0)
  expect((await info(path))['virtual-size']).toBe(size)
  await writeBytes(rawPath, model)
  const compared = await compare(path, rawPath, { formatB: 'raw' })
  expect(compared.stdout + compared.stderr).toContain('Images are identical')
}

const readAll = async (device: QcowDevice, bytes: number): Promise<Uint8Array> => {
  const out = new Uint8Array(bytes)
  if (bytes > 0) await run(device.read(0, [out]))
  return out
}

describeWithQemu('resize against qemu-img', () => {
  const tmp = useTempDir('qcow-resize-')

  it('grows an image past its L1 table and refcount table, then shrinks it', async () => {
    const disk = await ramDisk(64 * K)
    const device = await run(Qcow.create(disk, { size: 1 * M, clusterSize: 512, refcountBits: 16 }))
    const header0 = await run(device.header())
    const data = pattern(64 * K, 7)
    await run(device.write(100, [data]))
    const grown = 300 * M
    await run(device.resize(grown, {}))
    await run(device.write(grown / 512 - 64, [pattern(32 * K, 8)]))
    await run(device.write((200 * M) / 512, [pattern(9 * M, 9)]))
    const header1 = await run(device.header())
    expect(header1.l1Size).toBeGreaterThan(header0.l1Size)
    expect(header1.l1TableOffset).not.toBe(header0.l1TableOffset)
    expect(header1.refcountTableClusters).toBeGreaterThan(header0.refcountTableClusters)
    const model = new Uint8Array(grown)
    model.set(data, 100 * 512)
    model.set(pattern(32 * K, 8), grown - 32 * K)
    model.set(pattern(9 * M, 9), 200 * M)
    expect(sameBytes(await readAll(device, grown), model)).toBe(true)
    const path = tmp.file('grown.qcow2')
    await saveTo(device, disk, path)
    await expectQemuAgrees(path, grown, model, tmp.file('grown.raw'))

    expect((await runLeft(device.resize(150 * M, {})))._tag).toBe('Unsupported')
    await run(device.resize(150 * M + 512, { allowShrink: true }))
    const shrunk = model.slice(0, 150 * M + 512)
    expect(sameBytes(await readAll(device, shrunk.byteLength), shrunk)).toBe(true)
    await run(device.resize(160 * M, {}))
    const regrown = new Uint8Array(160 * M)
    regrown.set(shrunk)
    expect(sameBytes(await readAll(device, regrown.byteLength), regrown)).toBe(true)
    const path2 = tmp.file('shrunk.qcow2')
    await saveTo(device, disk, path2)
    await expectQemuAgrees(path2, 160 * M, regrown, tmp.file('shrunk.raw'))
  })

  it('grows a 0-byte image, which has no L1 table, and qemu-img agrees', async () => {
    const disk = await ramDisk(64 * K)
    const device = await run(Qcow.create(disk, { size: 0, clusterSize: 4 * K }))
    expect((await run(device.header())).l1TableOffset).toBe(0)
    const size = 3 * M
    await run(device.resize(size, {}))
    const data = pattern(20 * K, 11)
    await run(device.write(1000, [data]))
    const model = new Uint8Array(size)
    model.set(data, 1000 * 512)
    expect(sameBytes(await readAll(device, size), model)).toBe(true)
    const path = tmp.file('from-empty.qcow2')
    await saveTo(device, disk, path)
    await expectQemuAgrees(path, size, model, tmp.file('from-empty.raw'))
  })

  it('resizes qemu-made images (shrinking frees what lies past the end)', async () => {
    const path = tmp.file('qemu.qcow2')
    await qemuImage(path, { size: 64 * M }, ['write -P 1 0 1M', 'write -P 2 40M 3M', 'write -c -P 3 60M 64k', 'write -z 62M 64k'])
    const { disk, device } = await openFile(path)
    await run(device.resize(32 * M, { allowShrink: true }))
    const model = new Uint8Array(32 * M).fill(1, 0, M)
    const out = tmp.file('qemu-shrunk.qcow2')
    await saveTo(device, disk, out)
    await expectQemuAgrees(out, 32 * M, model, tmp.file('qemu-shrunk.raw'))
    const report = await run(device.check())
    expect(report.allocatedClusters).toBe(16)
  })

  it('refuses sizes that are not whole sectors, and read-only images', async () => {
    const disk = await ramDisk(64 * K)
    const device = await run(Qcow.create(disk, { size: M }))
    expect((await runLeft(device.resize(M + 1, {})))._tag).toBe('Misaligned')
    expect((await runLeft(device.resize(-512, {})))._tag).toBe('OutOfRange')
    expect((await runLeft(device.resize(M, { allowShrink: 'yes' } as never)))._tag).toBe('InvalidImage')
    await run(device.disconnect())
    const ro = await run(Qcow.connect(disk, { readOnly: true }))
    expect((await runLeft(ro.resize(2 * M, {})))._tag).toBe('ReadOnly')
  })
})

describe('discard and writeZeroes', () => {
  const setup = async (compat: '0.10' | '1.1'): Promise<QcowDevice> => {
    const device = await run(Qcow.create(await ramDisk(64 * K), { size: 4 * M, clusterSize: 4096, compat }))
    await run(device.write(0, [pattern(64 * K, 1)]))
    return device
  }
  const extentAt = async (device: QcowDevice, sector: number) => (await run(device.map(sector, 8)))[0]!

  it('version 3: whole clusters become ZERO clusters (keeping the host cluster unless unmap), partial ones zero data', async () => {
    const device = await setup('1.1')
    const before = await extentAt(device, 8)
    await run(device.writeZeroes(8, 8))
    expect(await extentAt(device, 8)).toEqual({ start: 4096, length: 4096, depth: 0, present: true, zero: true, data: false, offset: before.offset })
    await run(device.writeZeroes(16, 8, { unmap: true }))
    expect(await extentAt(device, 16)).toEqual({ start: 8192, length: 4096, depth: 0, present: true, zero: true, data: false })
    await run(device.writeZeroes(25, 2))
    expect(await extentAt(device, 24)).toMatchObject({ present: true, zero: false, data: true })
    const out = new Uint8Array(4096)
    await run(device.read(24, [out]))
    expect(out.subarray(512, 1536).every((b) => b === 0)).toBe(true)
    expect(sameBytes(out.subarray(0, 512), pattern(64 * K, 1).subarray(12288, 12800))).toBe(true)
  })

  it('version 3 without a backing file: discard deallocates; every reference is released after a flush', async () => {
    const device = await setup('1.1')
    await run(device.discard(0, 64))
    expect(await run(device.map(0, 64))).toEqual([{ start: 0, length: 32 * K, depth: 0, present: false, zero: true, data: false }])
    const report = await run(device.check())
    expect(report).toMatchObject({ leaks: 0, corruptions: 0, allocatedClusters: 8 })
  })

  it('version 2: writeZeroes writes zero data, discard deallocates', async () => {
    const device = await setup('0.10')
    await run(device.writeZeroes(8, 8))
    expect(await extentAt(device, 8)).toMatchObject({ present: true, zero: false, data: true })
    await run(device.discard(16, 8))
    expect(await extentAt(device, 16)).toMatchObject({ present: false, data: false })
    const out = new Uint8Array(8192)
    await run(device.read(8, [out]))
    expect(out.every((b) => b === 0)).toBe(true)
  })

  it('a range starting in an unallocated cluster and ending inside an allocated one zeroes both parts', async () => {
    for (const compat of ['1.1', '0.10'] as const) {
      const device = await run(Qcow.create(await ramDisk(64 * K), { size: M, clusterSize: 4096, compat }))
      await run(device.write(8, [new Uint8Array(5 * 512).fill(0xaa)]))
      await run(device.discard(4, 9))
      await run(device.write(40, [new Uint8Array(5 * 512).fill(0xbb)]))
      await run(device.writeZeroes(36, 9))
      const out = new Uint8Array(48 * 512)
      await run(device.read(0, [out]))
      expect(out.every((b) => b === 0)).toBe(true)
    }
  })

  it('seekMapped/seekUnmapped skip unallocated L2 ranges and treat ZERO clusters as mapped', async () => {
    const device = await run(Qcow.create(await ramDisk(64 * K), { size: 1024 * M, clusterSize: 4096 }))
    await run(device.writeZeroes((700 * M) / 512, 8))
    expect(await run(device.seekMapped(0))).toBe((700 * M) / 512)
    expect(await run(device.seekUnmapped((700 * M) / 512))).toBe((700 * M) / 512 + 8)
    expect(await run(device.seekMapped((700 * M) / 512 + 8))).toBe((1024 * M) / 512)
  })
})
