// Backing chains over RamDisks: reads fall through, copy-on-write, explicit backing, ownership, create defaults, races.
import * as TE from 'fp-ts/lib/TaskEither.js'
import { describe, expect, it } from 'vitest'
import type { BlockDevice } from '../../src/block/device.js'
import { permissive, type QcowError } from '../../src/qcow/index.js'
import { Qcow, diskWith, pattern, ramDisk, run, runLeft, sameBytes } from '../qcow/support/harness.js'

const MiB = 1024 * 1024

const readAll = async (device: BlockDevice<QcowError>): Promise<Uint8Array> => {
  const info = await run(device.getInfo())
  const out = new Uint8Array(info.sizeSectors * 512)
  await run(device.read(0, [out]))
  return out
}

/** The device's methods bound to it, so a spread copy still works. */
const bind = (d: BlockDevice<QcowError>): BlockDevice<QcowError> => ({
  getInfo: () => d.getInfo(),
  read: (s, b) => d.read(s, b),
  write: (s, b) => d.write(s, b),
  flush: () => d.flush(),
  disconnect: () => d.disconnect(),
})

describe('reading through a backing device', () => {
  it('unallocated clusters read from a raw backing; past its end, zeroes', async () => {
    const baseBytes = pattern(MiB, 1)
    const raw = await diskWith(baseBytes)
    const top = await run(Qcow.create(await ramDisk(0), { size: 2 * MiB, backingFile: 'base.raw', backingFormat: 'raw', backing: raw, clusterSize: 4096 }))
    const expected = new Uint8Array(2 * MiB)
    expected.set(baseBytes)
    expect(sameBytes(await readAll(top), expected)).toBe(true)
    const header = await run(top.header())
    expect(header.backingFile).toBe('base.raw')
    expect(header.backingFormat).toBe('raw')
  })

  it('a partial write copies the rest of the cluster from the backing', async () => {
    const baseBytes = pattern(MiB, 2)
    const raw = await diskWith(baseBytes)
    const disk = await ramDisk(0)
    const top = await run(Qcow.create(disk, { backingFile: 'base.raw', backing: raw, clusterSize: 65536 }))
    expect((await run(top.getInfo())).sizeSectors).toBe(MiB / 512)
    const data = pattern(1024, 3)
    await run(top.write(130, [data]))
    const expected = baseBytes.slice()
    expected.set(data, 130 * 512)
    expect(sameBytes(await readAll(top), expected)).toBe(true)
    await run(top.disconnect())
    // Reopened without its backing, only the written cluster is there, copied whole.
    const alone = await readAll(await run(Qcow.connect(disk, { backing: null })))
    const cluster = 65536
    const first = Math.floor((130 * 512) / cluster) * cluster
    expect(sameBytes(alone.subarray(first, first + cluster), expected.subarray(first, first + cluster))).toBe(true)
    expect(alone.subarray(0, first).every((b) => b === 0)).toBe(true)
  })

  it('a qcow2 backing is read recursively and the explicit backing overrides the header', async () => {
    const raw = await diskWith(pattern(MiB, 4))
    const midDisk = await ramDisk(0)
    const mid = await run(Qcow.create(midDisk, { backingFile: 'a.raw', backing: raw, clusterSize: 512 }))
    await run(mid.write(8, [pattern(4096, 5)]))
    const top = await run(Qcow.create(await ramDisk(0), { backingFile: 'mid.qcow2', backing: mid, size: 2 * MiB }))
    expect((await run(top.header())).backingFormat).toBe('qcow2')
    const expected = new Uint8Array(2 * MiB)
    expected.set(pattern(MiB, 4))
    expected.set(pattern(4096, 5), 8 * 512)
    expect(sameBytes(await readAll(top), expected)).toBe(true)
    await run(top.disconnect())
    // The caller's backing is not closed by the overlay.
    expect((await run(mid.getInfo())).sizeSectors).toBe(MiB / 512)
  })

  it('a backing with 4096-byte sectors is read at 512-byte offsets', async () => {
    const bytes = pattern(MiB, 7)
    const disk = await diskWith(bytes)
    const big: BlockDevice<QcowError> = {
      getInfo: () => TE.map((i: { sizeSectors: number }) => ({ readWrite: false, sectorSize: 4096, sizeSectors: (i.sizeSectors * 512) / 4096 }))(disk.getInfo()),
      read: (sector, buffers) => disk.read(sector * 8, buffers),
      write: (sector, buffers) => disk.write(sector * 8, buffers),
      flush: () => disk.flush(),
      disconnect: () => disk.disconnect(),
    }
    const top = await run(Qcow.create(await ramDisk(0), { backingFile: 'big', backing: big, clusterSize: 512 }))
    const data = pattern(512, 8)
    await run(top.write(3, [data]))
    const expected = bytes.slice()
    expected.set(data, 3 * 512)
    const out = new Uint8Array(5 * 512)
    await run(top.read(1, [out]))
    expect(sameBytes(out, expected.subarray(512, 6 * 512))).toBe(true)
    expect(sameBytes(await readAll(top), expected)).toBe(true)
  })

  it('concurrent partial writes into one unallocated cluster each keep the backing bytes around them', async () => {
    const bytes = pattern(MiB, 9)
    const top = await run(Qcow.create(await ramDisk(0), { backingFile: 'b', backing: await diskWith(bytes), clusterSize: 65536 }))
    const expected = bytes.slice()
    const writes = Array.from({ length: 16 }, (_, i) => ({ sector: 128 + i * 8 + (i % 3), data: pattern(512 * (1 + (i % 4)), 100 + i) }))
    for (const w of writes) expected.set(w.data, w.sector * 512)
    await Promise.all(writes.map((w) => run(top.write(w.sector, [w.data]))))
    expect(sameBytes(await readAll(top), expected)).toBe(true)
  })

  it('writes racing a commit all land, and the guest content is kept', async () => {
    const bytes = pattern(MiB, 15)
    const backing = await diskWith(bytes)
    const disk = await ramDisk(0)
    const top = await run(Qcow.create(disk, { backingFile: 'b', backing, clusterSize: 4096 }))
    const expected = bytes.slice()
    const early = Array.from({ length: 8 }, (_, i) => ({ sector: i * 200 + 3, data: pattern(1536, 200 + i) }))
    for (const w of early) {
      await run(top.write(w.sector, [w.data]))
      expected.set(w.data, w.sector * 512)
    }
    const racing = Array.from({ length: 8 }, (_, i) => ({ sector: i * 200 + 100, data: pattern(2048, 300 + i) }))
    for (const w of racing) expected.set(w.data, w.sector * 512)
    await Promise.all([run(top.commit()), ...racing.map((w) => run(top.write(w.sector, [w.data])))])
    expect(sameBytes(await readAll(top), expected)).toBe(true)
    await run(top.disconnect())
    expect(sameBytes(await readAll(await run(Qcow.connect(disk, { backing }))), expected)).toBe(true)
  })

  for (const operation of ['rebase', 'flatten'] as const) {
    it(`writes racing a ${operation} into unallocated clusters all land, and the guest content is kept`, async () => {
      const oldBytes = pattern(MiB, 16)
      const backing = await diskWith(oldBytes)
      const top = await run(Qcow.create(await ramDisk(0), { backingFile: 'b', backing, clusterSize: 4096 }))
      const expected = oldBytes.slice()
      const racing = Array.from({ length: 16 }, (_, i) => ({ sector: i * 120 + 7, data: pattern(1024 + (i % 3) * 512, 400 + i) }))
      for (const w of racing) expected.set(w.data, w.sector * 512)
      const switched =
        operation === 'rebase'
          ? top.rebase(await diskWith(pattern(MiB, 17)), { backingFile: 'c', backingFormat: 'raw' })
          : top.flatten()
      await Promise.all([run(switched), ...racing.map((w) => run(top.write(w.sector, [w.data])))])
      expect(sameBytes(await readAll(top), expected)).toBe(true)
    })
  }

  it('connect refuses an image naming a backing file by default', async () => {
    const disk = await ramDisk(0)
    const top = await run(Qcow.create(disk, { backingFile: 'secret', backing: null, size: MiB }))
    await run(top.disconnect())
    const e = await runLeft(Qcow.connect(disk))
    expect(e).toMatchObject({ _tag: 'BackingRefused', name: 'secret', rule: 'ImplicitOpenDenied' })
  })

  it('backing files opened through a gate are read-only and closed by disconnect', async () => {
    const files = new Map<string, BlockDevice<QcowError>>()
    files.set('base', await diskWith(pattern(MiB, 6)))
    const midDisk = await ramDisk(0)
    await run((await run(Qcow.create(midDisk, { backingFile: 'base', backingFormat: 'raw', backing: null, size: MiB }))).disconnect())
    files.set('mid', midDisk)
    const topDisk = await ramDisk(0)
    await run((await run(Qcow.create(topDisk, { backingFile: 'mid', backingFormat: 'qcow2', backing: null, size: MiB }))).disconnect())
    const opened: { name: string; readOnly: boolean; closed: boolean }[] = []
    const gate = permissive((name, mode) => {
      const device = files.get(name)
      if (device === undefined) return TE.left({ _tag: 'Io', kind: 'NotFound', operation: 'open', message: name })
      const record = { name, readOnly: mode.readOnly, closed: false }
      opened.push(record)
      return TE.right({ ...bind(device), disconnect: () => TE.fromIO(() => void (record.closed = true)) })
    })
    const top = await run(Qcow.connect(topDisk, { gate }))
    expect(sameBytes(await readAll(top), pattern(MiB, 6))).toBe(true)
    expect(opened.map((o) => [o.name, o.readOnly, o.closed])).toEqual([
      ['mid', true, false],
      ['base', true, false],
    ])
    await run(top.disconnect())
    expect(opened.every((o) => o.closed)).toBe(true)
  })
})
