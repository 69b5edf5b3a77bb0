// Run-time corruption handling: writes that would overlap metadata are refused, mark the image corrupt, and reads keep working; Debug.checkNoOverlaps.
import { describe, expect, it } from 'vitest'
import { HEADER } from '../../../src/qcow/format/constants.js'
import type { RamDiskDevice } from '../../../src/ramdisk/index.js'
import { Qcow, diskBytes, pattern, ramDisk, run, runLeft, sameBytes } from '../support/harness.js'
import { u64 } from './support.js'

const CS = 4096

/** Writes `bytes` at byte `offset` of the base disk (whole sectors around it are rewritten). */
const poke = async (disk: RamDiskDevice, offset: number, bytes: ReadonlyArray<number>): Promise<void> => {
  const all = await diskBytes(disk)
  const start = Math.floor(offset / 512) * 512
  const sector = all.slice(start, start + 512)
  sector.set(bytes, offset - start)
  await run(disk.write(start / 512, [sector]))
}

const u64At = (bytes: Uint8Array, offset: number): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4)
}

/** A 1 MiB image with data in guest clusters 0 and 1, closed; returns where its tables are. */
const image = async (): Promise<{ disk: RamDiskDevice; l1: number; l2: number; reftable: number; refblock: number }> => {
  const disk = await ramDisk(64 * 1024)
  const device = await run(Qcow.create(disk, { size: 1024 * 1024, clusterSize: CS }))
  await run(device.write(0, [pattern(2 * CS, 1)]))
  await run(device.disconnect())
  const bytes = await diskBytes(disk)
  const l1 = u64At(bytes, HEADER.l1TableOffset)
  const reftable = u64At(bytes, HEADER.refcountTableOffset)
  return { disk, l1, l2: u64At(bytes, l1) % 2 ** 55, reftable, refblock: u64At(bytes, reftable) }
}

describe('metadata overlaps at run time', () => {
  it('a data write landing on the L1 table is refused, marks the image corrupt, and reads still work', async () => {
    const { disk, l1, l2 } = await image()
    await poke(disk, l2 + 8, u64(2 ** 63 + l1))
    const l1Before = (await diskBytes(disk)).slice(l1, l1 + CS)
    const device = await run(Qcow.connect(disk))
    expect(await runLeft(device.write(CS / 512, [pattern(512, 2)]))).toMatchObject({ _tag: 'Corrupt', reason: expect.stringContaining('active L1 table') })
    expect(sameBytes((await diskBytes(disk)).slice(l1, l1 + CS), l1Before)).toBe(true)
    expect(await runLeft(device.write(0, [pattern(512, 3)]))).toMatchObject({ _tag: 'Corrupt' })
    const out = new Uint8Array(CS)
    await run(device.read(0, [out]))
    expect(sameBytes(out, pattern(2 * CS, 1).subarray(0, CS))).toBe(true)
    await run(device.disconnect())
    expect((await runLeft(Qcow.connect(disk)))._tag).toBe('InvalidImage')
    const ro = await run(Qcow.connect(disk, { readOnly: true }))
    expect((await run(ro.header())).corrupt).toBe(true)
  })

  it('an allocation handed a metadata cluster (its refcount was 0) is refused as corruption', async () => {
    const { disk, l1, refblock } = await image()
    await poke(disk, refblock + (l1 / CS) * 2, [0, 0])
    const device = await run(Qcow.connect(disk))
    expect(await runLeft(device.write(100, [pattern(512, 4)]))).toMatchObject({ _tag: 'Corrupt', reason: expect.stringContaining('metadata overlap') })
    expect((await run(device.header())).corrupt).toBe(true)
  })

  it('Debug.checkNoOverlaps passes on a sound image and names the structures sharing a cluster', async () => {
    const { disk, reftable, l2 } = await image()
    await run(Qcow.Debug.checkNoOverlaps(await run(Qcow.connect(disk, { readOnly: true }))))
    await poke(disk, l2 + 8, u64(2 ** 63 + reftable))
    const left = await runLeft(Qcow.Debug.checkNoOverlaps(await run(Qcow.connect(disk, { readOnly: true }))))
    expect(left._tag).toBe('Corrupt')
    expect(JSON.stringify(left)).toContain('refcount table')
  })
})
