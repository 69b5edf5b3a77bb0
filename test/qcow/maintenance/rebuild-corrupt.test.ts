// rebuildRefcountTable() on damaged refcounts, and repair of an image whose corrupt bit is set (connect with repairCorrupt).
import { expect, it } from 'vitest'
import { HEADER } from '../../../src/qcow/format/constants.js'
import { check as qemuCheck, describeWithQemu, info as qemuInfo, qcow2Specific, ramDiskFromFile, useTempDir } from '../../support/qemu.js'
import { pattern, Qcow, run, runLeft } from '../support/harness.js'
import { openFile, patch, qemuImage, readU64, saveTo } from './support.js'

const C = 65536
/** Byte of the header holding incompatible feature bits 0..7 (the field is big-endian). */
const INCOMPAT_LOW_BYTE = HEADER.incompatibleFeatures + 7
const CORRUPT_BIT = 2

/** Host cluster index of guest cluster `guestCluster`'s data (first L2 table). */
const dataCluster = async (path: string, guestCluster: number): Promise<number> => {
  const l2 = (await readU64(path, await readU64(path, HEADER.l1TableOffset))) % 2 ** 55
  return ((await readU64(path, l2 + guestCluster * 8)) % 2 ** 55) / C
}

/** Overwrites the 16-bit refcount of host cluster `cluster` (first refcount block). */
const setRefcount = async (path: string, cluster: number, value: number): Promise<void> => {
  const refblock = await readU64(path, await readU64(path, HEADER.refcountTableOffset))
  await patch(path, refblock + cluster * 2, [value >> 8, value & 255])
}

describeWithQemu('refcount rebuild and corrupt-image repair', () => {
  const tmp = useTempDir('qcow-rebuild-')

  /** A qemu-made image with data in guest clusters 0..2 and 7, and a zero cluster. */
  const image = async (name: string): Promise<string> => {
    const path = tmp.file(name)
    await qemuImage(path, { size: 64 * C, clusterSize: C }, ['write -P 0x11 0 192k', `write -P 0x22 ${7 * C} 64k`, `write -z ${9 * C} 64k`])
    return path
  }

  it('rebuildRefcountTable turns refcounts that are too low, too high and leaked into a clean image with the same data', async () => {
    const path = await image('rebuild.qcow2')
    const before = new Uint8Array(64 * C)
    const original = await openFile(path, true)
    await run(original.device.read(0, [before]))
    await setRefcount(path, await dataCluster(path, 1), 0)
    await setRefcount(path, await dataCluster(path, 7), 3)
    await setRefcount(path, 40, 1)
    const damaged = await qemuCheck(path)
    expect(damaged.report?.corruptions ?? 0).toBeGreaterThan(0)
    expect(damaged.report?.leaks ?? 0).toBeGreaterThan(0)

    const { disk, device } = await openFile(path)
    await run(device.rebuildRefcountTable())
    const ours = await run(device.check())
    expect({ corruptions: ours.corruptions, leaks: ours.leaks }).toEqual({ corruptions: 0, leaks: 0 })
    const after = new Uint8Array(64 * C)
    await run(device.read(0, [after]))
    expect(Buffer.from(after).equals(Buffer.from(before))).toBe(true)
    await saveTo(device, disk, path)
    expect((await qemuCheck(path)).code).toBe(0)
  })

  it('an image marked corrupt opens read-write only with repairCorrupt, refuses writes until repaired, then is clean', async () => {
    const path = await image('corrupt.qcow2')
    await setRefcount(path, await dataCluster(path, 2), 0)
    await patch(path, INCOMPAT_LOW_BYTE, [CORRUPT_BIT])
    expect(qcow2Specific(await qemuInfo(path)).corrupt).toBe(true)

    const disk = await ramDiskFromFile(path)
    expect((await runLeft(Qcow.connect(disk)))._tag).toBe('InvalidImage')
    const device = await run(Qcow.connect(disk, { repairCorrupt: true }))
    expect((await run(device.header())).corrupt).toBe(true)
    expect((await runLeft(device.write(0, [new Uint8Array(512)])))._tag).toBe('Corrupt')

    const report = await run(device.repair({ all: true }))
    expect(report.corruptions).toBe(0)
    expect(report.corruptionsFixed).toBeGreaterThan(0)
    expect((await run(device.header())).corrupt).toBe(false)
    const data = pattern(4096, 9)
    await run(device.write(3 * (C / 512), [data]))
    await saveTo(device, disk, path)
    expect((await qemuCheck(path)).code).toBe(0)
    expect(qcow2Specific(await qemuInfo(path)).corrupt).toBe(false)
    const reopened = await openFile(path, true)
    const back = new Uint8Array(4096)
    await run(reopened.device.read(3 * (C / 512), [back]))
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true)
  })
})
