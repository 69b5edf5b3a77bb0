// Model-based property test: random write/read/flush/reconnect sequences against a plain byte array.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { QcowDevice } from '../../src/qcow/index.js'
import { Qcow, expectReadsModel, ramDisk, run, sameBytes, writeModelled } from './support/harness.js'

interface Config {
  readonly clusterSize: number
  readonly refcountBits: number
  readonly size: number
  readonly compat?: '0.10' | '1.1'
  readonly lazyRefcounts?: boolean
  readonly l2CacheBytes?: number
  readonly refcountCacheBytes?: number
  readonly maxWrite: number
}

type Op =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly seed: number }
  | { readonly kind: 'read'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'reconnect' }

const opArb = (c: Config): fc.Arbitrary<Op> => {
  const sectors = c.size / 512
  const range = fc
    .tuple(fc.integer({ min: 0, max: sectors - 1 }), fc.integer({ min: 1, max: c.maxWrite / 512 }))
    .map(([sector, n]) => ({ sector, sectors: Math.min(n, sectors - sector) }))
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(range, fc.nat()).map(([r, seed]) => ({ kind: 'write' as const, ...r, seed })) },
    { weight: 3, arbitrary: range.map((r) => ({ kind: 'read' as const, ...r })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
  )
}

const runSequence = async (c: Config, ops: ReadonlyArray<Op>): Promise<void> => {
  const base = await ramDisk(512 * 1024)
  const connectOptions = {
    ...(c.l2CacheBytes === undefined ? {} : { l2CacheBytes: c.l2CacheBytes }),
    ...(c.refcountCacheBytes === undefined ? {} : { refcountCacheBytes: c.refcountCacheBytes }),
  }
  let device: QcowDevice = await run(
    Qcow.create(base, { size: c.size, clusterSize: c.clusterSize, refcountBits: c.refcountBits, compat: c.compat ?? '1.1', lazyRefcounts: c.lazyRefcounts ?? false }),
  )
  const model = new Uint8Array(c.size)
  for (const op of ops) {
    switch (op.kind) {
      case 'write':
        await writeModelled(device, model, op.sector, op.sectors, op.seed)
        break
      case 'read':
        await expectReadsModel(device, model, op.sector, op.sectors)
        break
      case 'flush':
        await run(device.flush())
        break
      case 'reconnect':
        await run(device.disconnect())
        device = await run(Qcow.connect(base, connectOptions))
        break
    }
  }
  const all = new Uint8Array(c.size)
  await run(device.read(0, [all]))
  expect(sameBytes(all, model)).toBe(true)
  await run(device.disconnect())
  const reopened = await run(Qcow.connect(base, { readOnly: true }))
  const again = new Uint8Array(c.size)
  await run(reopened.read(0, [again]))
  expect(sameBytes(again, model)).toBe(true)
}

const configs: Config[] = [
  { clusterSize: 512, refcountBits: 1, size: 1024 * 1024, maxWrite: 8 * 1024 },
  { clusterSize: 512, refcountBits: 64, size: 4 * 1024 * 1024, maxWrite: 256 * 1024, l2CacheBytes: 2048, refcountCacheBytes: 2048 },
  { clusterSize: 4096, refcountBits: 16, size: 8 * 1024 * 1024, maxWrite: 64 * 1024, lazyRefcounts: true },
  { clusterSize: 4096, refcountBits: 16, size: 8 * 1024 * 1024, maxWrite: 64 * 1024, compat: '0.10' },
  { clusterSize: 65536, refcountBits: 16, size: 16 * 1024 * 1024, maxWrite: 256 * 1024 },
  { clusterSize: 65536, refcountBits: 64, size: 8 * 1024 * 1024, maxWrite: 128 * 1024, lazyRefcounts: true },
  { clusterSize: 2 * 1024 * 1024, refcountBits: 16, size: 8 * 1024 * 1024, maxWrite: 3 * 1024 * 1024 },
]

describe('qcow engine against a byte-array model', () => {
  for (const c of configs) {
    const name = `${c.clusterSize}-byte clusters, ${c.refcountBits}-bit refcounts${c.compat === '0.10' ? ', v2' : ''}${c.lazyRefcounts === true ? ', lazy refcounts' : ''}${c.l2CacheBytes !== undefined ? ', tiny caches' : ''}`
    it(name, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb(c), { minLength: 1, maxLength: 40 }), (ops) => runSequence(c, ops)),
        { numRuns: Number(process.env.MODEL_RUNS ?? (c.clusterSize >= 2 * 1024 * 1024 ? 6 : 20)) },
      )
    })
  }
})
