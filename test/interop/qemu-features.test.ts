// QEMU images using features we refuse or restrict (extended L2, data file, encryption, corrupt and dirty bits), and a FileBlock round trip.
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { expect, it } from 'vitest'
import { FileBlock } from '../../src/file/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { expectBytes } from '../support/bytes.js'
import { check, compare, createImage, describeWithQemu, info, qemuImg, qemuIo, qemuIoOk, ramDiskFromBytes, ramDiskFromFile, toRawBytes, useTempDir, writeBytes } from '../support/qemu.js'
import { readBytes, run } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB

const Qcow = makeQcow(RamDisk)

/** Connects to the image held in `bytes` and returns the error tag, or 'connected'. */
const connectTag = async (bytes: Uint8Array, readOnly: boolean): Promise<string> => {
  const result = await Qcow.connect(await ramDiskFromBytes(bytes), { readOnly })()
  if (E.isRight(result)) {
    await result.right.disconnect()()
    return 'connected'
  }
  return result.left._tag
}

describeWithQemu('QEMU images with features we refuse or restrict', () => {
  const tmp = useTempDir('qcow-ts-features-')

  it('extended L2 entries are refused as an unsupported feature', async () => {
    const image = tmp.file('extended-l2.qcow2')
    await createImage(image, { size: MiB, extra: ['extended_l2=on'] })
    await qemuIoOk(image, ['write -P 0x11 0 64k'])
    expect(await connectTag(new Uint8Array(await readFile(image)), true)).toBe('UnsupportedFeature')
  })

  it('an external data file is refused as an unsupported feature', async () => {
    const image = tmp.file('data-file.qcow2')
    await createImage(image, { size: MiB, extra: [`data_file=${tmp.file('data-file.raw')}`] })
    expect(await connectTag(new Uint8Array(await readFile(image)), true)).toBe('UnsupportedFeature')
  })

  it('an encrypted image (AES; LUKS is the same crypt_method check) is refused', async () => {
    const image = tmp.file('aes.qcow2')
    const r = await qemuImg(['create', '-q', '-f', 'qcow2', '--object', 'secret,id=sec0,data=123456', '-o', 'encrypt.format=aes,encrypt.key-secret=sec0', image, '1M'])
    expect(r.code, r.stderr).toBe(0)
    const bytes = new Uint8Array(await readFile(image))
    expect(new DataView(bytes.buffer).getUint32(32)).toBe(1)
    expect(['UnsupportedFeature', 'InvalidImage']).toContain(await connectTag(bytes, true))
  })

  it('the corrupt bit allows read-only opens only', async () => {
    const image = tmp.file('corrupt.qcow2')
    await createImage(image, { size: MiB })
    await qemuIoOk(image, ['write -P 0x22 4k 8k'])
    const bytes = new Uint8Array(await readFile(image))
    bytes[79] = bytes[79]! | 2
    await writeBytes(image, bytes)
    expect((await info(image))['format-specific']?.data).toMatchObject({ corrupt: true })
    expect(await connectTag(bytes, false)).not.toBe('connected')
    const device = await run(Qcow.connect(await ramDiskFromBytes(bytes), { readOnly: true }), 'read-only connect')
    const expected = new Uint8Array(MiB)
    expected.fill(0x22, 4 * KiB, 12 * KiB)
    expectBytes(await readBytes(device, MiB), expected, 'read of a corrupt-flagged image')
    await run(device.disconnect(), 'disconnect')
  })

  it('a dirty lazy-refcount image reads correctly read-only', async () => {
    const image = tmp.file('dirty.qcow2')
    await createImage(image, { size: MiB, clusterSize: 4 * KiB, lazyRefcounts: true })
    const killed = await qemuIo(image, ['write -P 0x33 0 100k', 'sigraise 9'])
    expect(killed.code).not.toBe(0)
    expect((await info(image))['dirty-flag']).toBe(true)
    const device = await run(Qcow.connect(await ramDiskFromFile(image), { readOnly: true }), 'read-only connect')
    const expected = new Uint8Array(MiB).fill(0x33, 0, 100 * KiB)
    expectBytes(await readBytes(device, MiB), expected, 'read of a dirty image')
    await run(device.disconnect(), 'disconnect')
  })
})

describeWithQemu('makeQcow(FileBlock) on a fresh qemu-img image (file size not a multiple of 512)', () => {
  const tmp = useTempDir('qcow-ts-fileblock-')

  it('writes through FileBlock leave an image qemu-img finds clean and equal', async () => {
    const image = tmp.file('fresh.qcow2')
    const size = 4 * MiB
    await createImage(image, { size, clusterSize: 4 * KiB })
    const Files = makeQcow(FileBlock)
    const base = await run(FileBlock.connect({ path: image }), 'FileBlock.connect')
    const device = await run(Files.connect(base), 'connect')
    const model = new Uint8Array(size)
    for (let i = 0; i < 40; i++) {
      const sector = (i * 2039) % (size / 512 - 40)
      const bytes = new Uint8Array(512 * (1 + (i % 37))).fill(i + 1)
      await run(device.write(sector, [bytes]), 'write')
      model.set(bytes, sector * 512)
    }
    await run(device.disconnect(), 'disconnect')
    const result = await check(image)
    expect(result.code, `${JSON.stringify(result.report)} ${result.stderr}`).toBe(0)
    const modelRaw = tmp.file('model.raw')
    await writeBytes(modelRaw, model)
    const same = await compare(image, modelRaw, { formatB: 'raw' })
    expect(same.code, same.stdout + same.stderr).toBe(0)
    expectBytes(await toRawBytes(image), model)
  })
})
