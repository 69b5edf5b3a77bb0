// `qcow check -r all` on an image whose corrupt bit is set: repaired and cleared as qemu-img check -r all does.
import { copyFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { describeWithQemu, info, qcow2Specific, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'
import { bothImg, jsonOf, poke, qcow } from './harness.js'

/** Byte holding incompatible feature bits 0..7 (header offset 72, big-endian 64 bits). */
const INCOMPAT_LOW_BYTE = 79
const CORRUPT_BIT = 2

describeWithQemu('check -r all on a corrupt-marked image', () => {
  const tmp = useTempDir('qcow-cli-corrupt-')

  it('exits like qemu-img, reports the same counts and leaves an image qemu-img finds clean and unmarked', async () => {
    const ours = tmp.file('ours.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', ours, '4M'])
    await qemuIoRaw(['-f', 'qcow2', '-c', 'write -P 7 0 128k', ours])
    await poke(ours, INCOMPAT_LOW_BYTE, [CORRUPT_BIT])
    const theirs = tmp.file('theirs.qcow2')
    await copyFile(ours, theirs)

    const plain = await qcow(['check', ours])
    expect(plain.code).toBe((await qemuImg(['check', theirs])).code)

    const qemu = await qemuImg(['check', '-r', 'all', '--output=json', theirs])
    const mine = await qcow(['check', '-r', 'all', '--output=json', ours])
    expect(mine.code).toBe(qemu.code)
    const strip = (o: Record<string, unknown>) => ({ ...o, filename: undefined })
    expect(strip(jsonOf(mine))).toEqual(strip(JSON.parse(qemu.stdout) as Record<string, unknown>))
    expect(qcow2Specific(await info(ours)).corrupt).toBe(false)
    expect((await qemuImg(['check', ours])).code).toBe(0)
    const both = await bothImg(['compare', ours, theirs])
    expect(both.ours.code).toBe(0)
  })
})
