// Images made by QEMU that exercise the write path: compressed clusters, snapshots (copy-on-write), unknown header data.
import { readFile, writeFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { check, compare, convert, createImage, describeWithQemu, expectSavedImageClean, fileFromDevice, info, qemuImg, qemuIoOk, ramDiskFromBytes, toRawBytes, useTempDir } from '../support/qemu.js'
import { Qcow, diskBytes, pattern, run, sameBytes } from './support/harness.js'

/** Bytes that compress well but not trivially: a pattern with runs. */
const compressible = (length: number, seed: number): Uint8Array => {
  const out = pattern(length, seed)
  for (let i = 0; i < length; i++) if (i % 1024 < 700) out[i] = (i >> 10) & 0xff
  return out
}

/** Opens the file at `path` with the engine, read-write, over a RamDisk copy. */
const openCopy = async (path: string) => {
  const base = await ramDiskFromBytes(new Uint8Array(await readFile(path)))
  return { base, device: await run(Qcow.connect(base)) }
}

describeWithQemu('writing into images QEMU made', () => {
  const dir = useTempDir('qcow-qemu-images-')

  for (const compression of ['zlib', 'zstd'] as const) {
    it(`writes into ${compression}-compressed clusters decompress, reallocate and free them`, async () => {
      const size = 4 * 1024 * 1024
      const model = compressible(size, 5)
      const raw = dir.file(`${compression}.raw`)
      const image = dir.file(`${compression}.qcow2`)
      await writeFile(raw, model)
      await convert(raw, image, { sourceFormat: 'raw', compress: true, target: { compressionType: compression } })
      expect((await check(image)).report?.['compressed-clusters'] ?? 0).toBeGreaterThan(0)
      const { base, device } = await openCopy(image)
      const all = new Uint8Array(size)
      await run(device.read(0, [all]))
      expect(sameBytes(all, model)).toBe(true)
      // Small reads walk through each compressed cluster (served by the one-cluster decompression cache).
      const small = new Uint8Array(4096)
      for (let offset = 0; offset < 256 * 1024; offset += small.byteLength) {
        await run(device.read(offset / 512, [small]))
        expect(sameBytes(small, model.subarray(offset, offset + small.byteLength))).toBe(true)
      }
      for (const [offset, length, seed] of [
        [4096, 4096, 1],
        [65536 + 512, 70000 - 368, 2],
        [1024 * 1024, 65536, 3],
        [3 * 1024 * 1024 - 1024, 2048, 4],
      ] as const) {
        const data = pattern(length, seed)
        await run(device.write(offset / 512, [data]))
        model.set(data, offset)
      }
      await run(device.read(0, [all]))
      expect(sameBytes(all, model)).toBe(true)
      await run(device.disconnect())
      const written = dir.file(`${compression}-written.qcow2`)
      await expectSavedImageClean(base, written)
      await writeFile(raw, model)
      expect((await compare(written, raw, { formatB: 'raw' })).code).toBe(0)
    })
  }

  it('writes to clusters shared with a snapshot copy them and leave the snapshot intact', async () => {
    const image = dir.file('snap.qcow2')
    await createImage(image, { size: 8 * 1024 * 1024, clusterSize: 4096 })
    await qemuIoOk(image, ['write -P 0x11 0 1M', 'write -P 0x22 6M 64k'])
    const before = await toRawBytes(image)
    expect((await qemuImg(['snapshot', '-c', 'snap1', image])).code).toBe(0)
    const { base, device } = await openCopy(image)
    const model = before.slice()
    for (const [offset, length, seed] of [
      [512, 1024, 1],
      [4096 * 3, 4096 * 5, 2],
      [6 * 1024 * 1024 + 8192, 512, 3],
      [2 * 1024 * 1024, 4096, 4],
    ] as const) {
      const data = pattern(length, seed)
      await run(device.write(offset / 512, [data]))
      model.set(data, offset)
    }
    await run(device.disconnect())
    const written = dir.file('snap-written.qcow2')
    await expectSavedImageClean(base, written)
    expect(sameBytes(await toRawBytes(written), model)).toBe(true)
    const snapshotRaw = dir.file('snap1.raw')
    expect((await qemuImg(['convert', '-f', 'qcow2', '-O', 'raw', '-l', 'snap1', written, snapshotRaw])).code).toBe(0)
    expect(sameBytes(new Uint8Array(await readFile(snapshotRaw)), before)).toBe(true)
  })

  it('writes into ZERO clusters (preallocated and not) fill the rest of the cluster with zeroes', async () => {
    const image = dir.file('zero.qcow2')
    await createImage(image, { size: 4 * 1024 * 1024, clusterSize: 65536 })
    await qemuIoOk(image, ['write -P 0xaa 0 512k', 'write -z 0 128k', 'write -z -u 256k 128k'])
    const model = await toRawBytes(image)
    expect(model.subarray(0, 131072).every((b) => b === 0)).toBe(true)
    const { base, device } = await openCopy(image)
    for (const [offset, length, seed] of [
      [4096, 4096, 1],
      [65536 + 65536 - 1024, 2048, 2],
      [256 * 1024 + 512, 512, 3],
      [384 * 1024 - 4096, 8192, 4],
    ] as const) {
      const data = pattern(length, seed)
      await run(device.write(offset / 512, [data]))
      model.set(data, offset)
    }
    const all = new Uint8Array(model.byteLength)
    await run(device.read(0, [all]))
    expect(sameBytes(all, model)).toBe(true)
    await run(device.disconnect())
    const written = dir.file('zero-written.qcow2')
    await expectSavedImageClean(base, written)
    expect(sameBytes(await toRawBytes(written), model)).toBe(true)
  })

  it('keeps unknown header bytes and extensions, and clears autoclear bits, on a read-write open', async () => {
    const source = dir.file('plain.qcow2')
    await createImage(source, { size: 16 * 1024 * 1024 })
    const bytes = new Uint8Array(await readFile(source))
    const view = new DataView(bytes.buffer)
    // Grow header_length to 120 with 8 unknown bytes, then an unknown extension, then the old extensions.
    const extensions = bytes.slice(112, 4096)
    const unknownBytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])
    const unknownExtension = new Uint8Array([0x12, 0x34, 0x56, 0x78, 0, 0, 0, 5, 9, 8, 7, 6, 5, 0, 0, 0])
    bytes.set(unknownBytes, 112)
    bytes.set(unknownExtension, 120)
    bytes.set(extensions.subarray(0, 4096 - 136), 136)
    view.setUint32(100, 120)
    view.setBigUint64(88, 1n | (1n << 7n))
    const base = await ramDiskFromBytes(bytes)
    const device = await run(Qcow.connect(base))
    const header = await run(device.header())
    expect(header.autoclearFeatures).toBe(0n)
    expect([...header.unknownHeaderBytes]).toEqual([...unknownBytes])
    expect(header.unknownExtensions).toEqual([{ type: 0x12345678, data: new Uint8Array([9, 8, 7, 6, 5]) }])
    await run(device.write(0, [pattern(65536, 1)]))
    await run(device.disconnect())
    const after = await diskBytes(base)
    expect([...after.subarray(112, 136)]).toEqual([...bytes.subarray(112, 136)])
    expect(new DataView(after.buffer).getBigUint64(88)).toBe(0n)
    const rewritten = dir.file('rewritten.qcow2')
    await fileFromDevice(base, rewritten)
    expect((await check(rewritten)).code).toBe(0)
    expect((await info(rewritten))['format-specific']).toBeDefined()
  })
})
