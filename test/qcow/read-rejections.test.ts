// Regression (found by the fuzzer as an unhandled rejection that killed its worker): a read that fails on a
// bad L1 entry while an earlier part of the same request is still being read must not leave that part's
// rejection unhandled; the call returns Corrupt and the process carries on.
import { expect, it } from 'vitest'
import { Qcow, diskBytes, diskWith, pattern, ramDisk, run } from './support/harness.js'

it('a read failing on a bad L1 entry waits for, and handles, the reads it already started', async () => {
  const base = await ramDisk(256 * 1024)
  const device = await run(Qcow.create(base, { size: 1024 * 1024, clusterSize: 512 }))
  await run(device.write(0, [pattern(512, 1)]))
  await run(device.disconnect())
  const bytes = await diskBytes(base)
  const view = new DataView(bytes.buffer)
  const l1 = Number(view.getBigUint64(40))
  const l2 = Number(view.getBigUint64(l1) & 0x00fffffffffffe00n)
  // Guest cluster 0: a compressed cluster lying past the end of the device (its read fails, later).
  view.setBigUint64(l2, (1n << 62n) | (1n << 40n))
  // L1 entry 1 (guest bytes from 32 KiB on): reserved bits set, so the walk fails when it gets there.
  view.setBigUint64(l1 + 8, 0x7f00000000000000n | BigInt(l2 + 512 * 8))
  const rejections: unknown[] = []
  const onRejection = (reason: unknown): void => void rejections.push(reason)
  process.on('unhandledRejection', onRejection)
  try {
    for (const readOnly of [false, true]) {
      const image = await run(Qcow.connect(await diskWith(bytes), { readOnly }))
      const result = await image.read(0, [new Uint8Array(64 * 1024)])()
      expect(result).toMatchObject({ _tag: 'Left', left: { _tag: 'Corrupt' } })
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  } finally {
    process.off('unhandledRejection', onRejection)
  }
  expect(rejections).toEqual([])
})
