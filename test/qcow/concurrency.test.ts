// Concurrent requests: allocations are never duplicated, reads racing allocations see old or new data.
import { expect, it } from 'vitest'
import { check, describeWithQemu, expectSavedImageClean, fileFromDevice, useTempDir } from '../support/qemu.js'
import { Qcow, pattern, ramDisk, run, sameBytes } from './support/harness.js'

const CLUSTER = 65536

describeWithQemu('concurrent requests on one image', () => {
  const dir = useTempDir('qcow-concurrency-')

  it('many writes into the same unallocated clusters allocate each cluster once', async () => {
    const base = await ramDisk(512 * 1024)
    const device = await run(Qcow.create(base, { size: 64 * 1024 * 1024 }))
    // 32 writes of 4 KiB, interleaved over two clusters far apart (one L2 table, allocated by the first writer).
    const writes = Array.from({ length: 32 }, (_, i) => ({ offset: (i % 2) * 600 * CLUSTER + Math.floor(i / 2) * 4096, data: pattern(4096, i) }))
    await Promise.all(writes.map((w) => run(device.write(w.offset / 512, [w.data]))))
    for (const w of writes) {
      const out = new Uint8Array(4096)
      await run(device.read(w.offset / 512, [out]))
      expect(sameBytes(out, w.data)).toBe(true)
    }
    await run(device.disconnect())
    const path = dir.file('alloc.qcow2')
    const checked = await expectSavedImageClean(base, path)
    expect(checked.report?.['allocated-clusters']).toBe(2)
  })

  it('reads racing allocating writes see each cluster either all old (zero) or all new', async () => {
    const base = await ramDisk(512 * 1024)
    const device = await run(Qcow.create(base, { size: 16 * 1024 * 1024, clusterSize: 4096 }))
    const clusters = 64
    const data = Array.from({ length: clusters }, (_, i) => pattern(4096, 100 + i))
    const reads: Promise<Uint8Array>[] = []
    const writes: Promise<void>[] = []
    for (let i = 0; i < clusters; i++) {
      writes.push(run(device.write(i * 8, [data[i]])))
      const out = new Uint8Array(4096)
      reads.push(run(device.read(i * 8, [out])).then(() => out))
    }
    await Promise.all(writes)
    const seen = await Promise.all(reads)
    seen.forEach((out, i) => expect(out.every((b) => b === 0) || sameBytes(out, data[i])).toBe(true))
  })

  it('overlapping whole-cluster writes leave one of them, whole', async () => {
    const base = await ramDisk(512 * 1024)
    const device = await run(Qcow.create(base, { size: 4 * 1024 * 1024, clusterSize: 4096 }))
    const candidates = Array.from({ length: 8 }, (_, i) => pattern(8192, 7 + i))
    await Promise.all(candidates.map((c) => run(device.write(8, [c]))))
    const out = new Uint8Array(8192)
    await run(device.read(8, [out]))
    expect(candidates.some((c) => sameBytes(c, out))).toBe(true)
    await run(device.disconnect())
    const path = dir.file('overlap.qcow2')
    await fileFromDevice(base, path)
    const checked = await check(path)
    expect(checked.code).toBe(0)
    expect(checked.report?.['allocated-clusters']).toBe(2)
  })
})
