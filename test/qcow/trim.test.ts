// Property: after random writes, discards, zero writes, flushes and reconnects, a disconnected image
// ends where it ends for check (image-end-offset), passes our check and qemu-img check, and holds the model's bytes.
import { writeFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import fc from 'fast-check'
import type { QcowDevice } from '../../src/qcow/index.js'
import { check, compare, describeWithQemu, fileFromDevice, useTempDir } from '../support/qemu.js'
import { Qcow, ramDisk, run, sameBytes, writeModelled } from './support/harness.js'

type Op =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly seed: number }
  | { readonly kind: 'discard' | 'zero'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'flush' | 'reconnect' }

interface Config {
  readonly clusterSize: number
  readonly refcountBits: number
  readonly lazyRefcounts: boolean
}

const SIZE = 4 * 1024 * 1024

const opArb: fc.Arbitrary<Op> = (() => {
  const sectors = SIZE / 512
  const range = fc
    .tuple(fc.integer({ min: 0, max: sectors - 1 }), fc.integer({ min: 1, max: 512 }))
    .map(([sector, n]) => ({ sector, sectors: Math.min(n, sectors - sector) }))
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(range, fc.nat()).map(([r, seed]) => ({ kind: 'write' as const, ...r, seed })) },
    { weight: 2, arbitrary: range.map((r) => ({ kind: 'discard' as const, ...r })) },
    { weight: 1, arbitrary: range.map((r) => ({ kind: 'zero' as const, ...r })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
  )
})()

const configArb: fc.Arbitrary<Config> = fc.record({
  clusterSize: fc.constantFrom(512, 4096, 65536),
  refcountBits: fc.constantFrom(1, 16, 64),
  lazyRefcounts: fc.boolean(),
})

const baseBytes = async (device: { getInfo: QcowDevice['getInfo'] }): Promise<number> => {
  const info = await run(device.getInfo())
  return info.sizeSectors * info.sectorSize
}

describeWithQemu('a disconnected image ends at its image end offset', () => {
  const dir = useTempDir('qcow-trim-')
  let runs = 0

  it('after random operations, on every cluster size and refcount width', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(opArb, { minLength: 1, maxLength: 25 }), async (c, ops) => {
        const base = await ramDisk(0)
        let device: QcowDevice = await run(Qcow.create(base, { size: SIZE, clusterSize: c.clusterSize, refcountBits: c.refcountBits, lazyRefcounts: c.lazyRefcounts }))
        const created = await baseBytes(base)
        const model = new Uint8Array(SIZE)
        for (const op of ops) {
          if (op.kind === 'write') {
            await writeModelled(device, model, op.sector, op.sectors, op.seed)
          } else if (op.kind === 'discard' || op.kind === 'zero') {
            await run(op.kind === 'discard' ? device.discard(op.sector, op.sectors) : device.writeZeroes(op.sector, op.sectors, { unmap: true }))
            model.fill(0, op.sector * 512, (op.sector + op.sectors) * 512)
          } else if (op.kind === 'flush') {
            await run(device.flush())
          } else {
            await run(device.disconnect())
            device = await run(Qcow.connect(base))
          }
        }
        await run(device.disconnect())
        const length = await baseBytes(base)
        const reopened = await run(Qcow.connect(base, { readOnly: true }))
        const report = await run(reopened.check())
        const all = new Uint8Array(SIZE)
        await run(reopened.read(0, [all]))
        await run(reopened.disconnect())
        expect(report).toMatchObject({ corruptions: 0, leaks: 0, checkErrors: 0 })
        expect(sameBytes(all, model)).toBe(true)
        // Only a base never grown past what create wrote (it ends inside the L1 cluster, like QEMU's) is shorter.
        if (length !== created || length > report.imageEndOffset) expect(length).toBe(report.imageEndOffset)
        runs++
        const image = dir.file(`trim-${runs}.qcow2`)
        const raw = dir.file(`trim-${runs}.raw`)
        await fileFromDevice(base, image)
        await writeFile(raw, model)
        const checked = await check(image)
        expect(checked.code, JSON.stringify(checked.report)).toBe(0)
        expect(checked.report?.['image-end-offset']).toBe(report.imageEndOffset)
        expect((await compare(image, raw, { formatB: 'raw' })).code).toBe(0)
      }),
      { numRuns: 40 },
    )
  })
})
