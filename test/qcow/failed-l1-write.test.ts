// Regression: a failed L1 entry write must not leave the in-memory L1 pointing at a table the disk never links.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import { RamDisk, type RamDiskDevice } from '../../src/ramdisk/index.js'
import { faulty, type FaultyDevice } from '../../src/testing/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import type { BlockError } from '../../src/block/errors.js'

const must = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left))
  return r.right
}

describe('a failed L1 entry write must not be remembered as done', () => {
  it('data written after the failure, and flushed, reads back after reopening', async () => {
    const ram: RamDiskDevice = must(await RamDisk.connect({ size: 0 })())
    const probe = must(faulty(ram, {}))
    const Qcow = makeQcow({ name: 'faulty', connect: () => async () => E.left<BlockError, FaultyDevice<BlockError>>({ _tag: 'Unsupported', operation: 'connect' }) })
    const created = must(await Qcow.create(probe, { size: 1024 * 1024, clusterSize: 4096 })())
    const l1Sector = must(await created.header()()).l1TableOffset / 512
    must(await created.flush()())
    must(await created.disconnect()())

    const ram2: RamDiskDevice = must(await RamDisk.connect({ size: 0 })())
    const base = must(faulty(ram2, { sectors: [{ sector: l1Sector, sectors: 1, kinds: ['write'] }], failedWrites: 'unchanged', enabled: false }))
    const qcow = must(await Qcow.create(base, { size: 1024 * 1024, clusterSize: 4096 })())
    must(await qcow.flush()())
    const data = new Uint8Array(512).fill(0xcd)
    base.setEnabled(true)
    expect(E.isLeft(await qcow.write(0, [data])())).toBe(true)
    base.setEnabled(false)
    must(await qcow.write(0, [data])())
    must(await qcow.flush()())

    const bytes = new Uint8Array(must(await ram2.getInfo()()).sizeSectors * 512)
    must(await ram2.read(0, [bytes])())
    const l1Entry = new DataView(bytes.buffer).getUint32(l1Sector * 512 + 4)
    const copy = must(await RamDisk.connect({ size: bytes.length })())
    must(await copy.write(0, [bytes])())
    const back = new Uint8Array(512)
    must(await must(await makeQcow(RamDisk).connect(copy)()).read(0, [back])())
    expect(l1Entry, 'L1[0] on disk').not.toBe(0)
    expect(back).toEqual(data)
  })
})
