// Model property test: random write/read/discard/writeZeroes/resize/flush/reopen sequences against a byte array, check() clean after each.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { QcowDevice } from '../../../src/qcow/index.js'
import { Qcow, expectReadsModel, ramDisk, run, sameBytes, writeModelled } from '../support/harness.js'

interface Config {
  readonly clusterSize: number
  readonly refcountBits: number
  readonly compat: '0.10' | '1.1'
  readonly lazyRefcounts?: boolean
  /** Largest virtual size in sectors a resize may pick. */
  readonly maxSectors: number
}

type Op =
  | { readonly kind: 'write'; readonly at: number; readonly count: number; readonly seed: number }
  | { readonly kind: 'read'; readonly at: number; readonly count: number }
  | { readonly kind: 'discard'; readonly at: number; readonly count: number }
  | { readonly kind: 'writeZeroes'; readonly at: number; readonly count: number; readonly unmap: boolean }
  | { readonly kind: 'resize'; readonly sectors: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'reopen' }

/** Positions are fractions of the current size, so they stay valid across resizes. */
const opArb = (c: Config): fc.Arbitrary<Op> => {
  const at = fc.integer({ min: 0, max: 1_000_000 }).map((n) => n / 1_000_000)
  const count = fc.integer({ min: 1, max: (4 * c.clusterSize) / 512 + 3 })
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('write' as const), at, count, seed: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), at, count }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('discard' as const), at, count }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('writeZeroes' as const), at, count, unmap: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('resize' as const), sectors: fc.integer({ min: 0, max: c.maxSectors }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  )
}

/** A sector range inside a disk of `size` sectors. */
const place = (size: number, at: number, count: number): [number, number] => {
  const n = Math.min(count, size)
  return [Math.min(size - n, Math.floor(at * size)), n]
}

const runSequence = async (c: Config, ops: ReadonlyArray<Op>): Promise<void> => {
  const base = await ramDisk(256 * 1024)
  const initial = Math.floor(c.maxSectors / 2)
  let device: QcowDevice = await run(
    Qcow.create(base, { size: initial * 512, clusterSize: c.clusterSize, refcountBits: c.refcountBits, compat: c.compat, lazyRefcounts: c.lazyRefcounts ?? false }),
  )
  let model = new Uint8Array(initial * 512)
  for (const op of ops) {
    const size = model.byteLength / 512
    switch (op.kind) {
      case 'write': {
        const [sector, n] = place(size, op.at, op.count)
        if (n > 0) await writeModelled(device, model, sector, n, op.seed)
        break
      }
      case 'read': {
        const [sector, n] = place(size, op.at, op.count)
        await expectReadsModel(device, model, sector, n)
        break
      }
      case 'discard':
      case 'writeZeroes': {
        const [sector, n] = place(size, op.at, op.count)
        await run(op.kind === 'discard' ? device.discard(sector, n) : device.writeZeroes(sector, n, { unmap: op.unmap }))
        model.fill(0, sector * 512, (sector + n) * 512)
        break
      }
      case 'resize': {
        await run(device.resize(op.sectors * 512, { allowShrink: true }))
        const next = new Uint8Array(op.sectors * 512)
        next.set(model.subarray(0, Math.min(model.byteLength, next.byteLength)))
        model = next
        expect((await run(device.getInfo())).sizeSectors).toBe(op.sectors)
        break
      }
      case 'flush':
        await run(device.flush())
        break
      case 'reopen':
        await run(device.disconnect())
        device = await run(Qcow.connect(base))
        break
    }
  }
  const all = new Uint8Array(model.byteLength)
  await run(device.read(0, [all]))
  expect(sameBytes(all, model)).toBe(true)
  const report = await run(device.check())
  expect({ corruptions: report.corruptions, leaks: report.leaks, checkErrors: report.checkErrors, problems: report.problems }).toEqual({
    corruptions: 0,
    leaks: 0,
    checkErrors: 0,
    problems: [],
  })
  await run(Qcow.Debug.checkNoOverlaps(device))
  await run(device.disconnect())
  const reopened = await run(Qcow.connect(base, { readOnly: true }))
  expect((await run(reopened.check())).corruptions).toBe(0)
}

const configs: ReadonlyArray<Config> = [
  { clusterSize: 512, refcountBits: 16, compat: '1.1', maxSectors: 2048 },
  { clusterSize: 4096, refcountBits: 1, compat: '1.1', maxSectors: 8192 },
  { clusterSize: 4096, refcountBits: 16, compat: '0.10', maxSectors: 8192 },
  { clusterSize: 65536, refcountBits: 64, compat: '1.1', lazyRefcounts: true, maxSectors: 16384 },
]

describe('maintenance operations against a byte-array model', () => {
  for (const c of configs) {
    it(`${c.clusterSize}-byte clusters, ${c.refcountBits}-bit refcounts, compat ${c.compat}${c.lazyRefcounts === true ? ', lazy' : ''}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb(c), { minLength: 1, maxLength: 30 }), (ops) => runSequence(c, ops)),
        { numRuns: 25 },
      )
    })
  }
})
