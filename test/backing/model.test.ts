// Model-based property test: an overlay over a sparse RamDisk backing against a byte-array model (writes, discards, zero writes, reopen, commit, rebase), with seeks and the chain map checked against it.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { QcowDevice } from '../../src/qcow/index.js'
import type { RamDiskDevice } from '../../src/ramdisk/index.js'
import { Qcow, diskWith, expectReadsModel, pattern, ramDisk, run, sameBytes, writeModelled } from '../qcow/support/harness.js'
import { expectSeeksFollowMap } from './support.js'

interface Config {
  readonly clusterSize: number
  readonly size: number
  /** Backing size, shorter or longer than the overlay. */
  readonly backingSize: number
  readonly compat?: '0.10' | '1.1'
  readonly maxWrite: number
}

type Op =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly seed: number }
  | { readonly kind: 'read'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'discard'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'zero'; readonly sector: number; readonly sectors: number; readonly unmap: boolean }
  | { readonly kind: 'flush' }
  | { readonly kind: 'reconnect' }
  | { readonly kind: 'commit' }
  | { readonly kind: 'rebase'; readonly seed: number; readonly unsafe: boolean }
  | { readonly kind: 'seek'; readonly sector: number }

const opArb = (c: Config): fc.Arbitrary<Op> => {
  const sectors = c.size / 512
  const range = fc
    .tuple(fc.integer({ min: 0, max: sectors - 1 }), fc.integer({ min: 1, max: c.maxWrite / 512 }))
    .map(([sector, n]) => ({ sector, sectors: Math.min(n, sectors - sector) }))
  const bigRange = fc
    .tuple(fc.integer({ min: 0, max: sectors - 1 }), fc.integer({ min: 1, max: (4 * c.clusterSize) / 512 }))
    .map(([sector, n]) => ({ sector, sectors: Math.min(n, sectors - sector) }))
  return fc.oneof(
    { weight: 8, arbitrary: fc.tuple(range, fc.nat()).map(([r, seed]) => ({ kind: 'write' as const, ...r, seed })) },
    { weight: 3, arbitrary: range.map((r) => ({ kind: 'read' as const, ...r })) },
    { weight: 2, arbitrary: bigRange.map((r) => ({ kind: 'discard' as const, ...r })) },
    { weight: 2, arbitrary: fc.tuple(bigRange, fc.boolean()).map(([r, unmap]) => ({ kind: 'zero' as const, ...r, unmap })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'reconnect' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
    { weight: 1, arbitrary: fc.tuple(fc.nat(), fc.boolean()).map(([seed, unsafe]) => ({ kind: 'rebase' as const, seed, unsafe })) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: sectors }).map((sector) => ({ kind: 'seek' as const, sector })) },
  )
}

/** The guest view of a backing of `bytes` under an overlay of `size` bytes: zeroes past its end. */
const guestView = (bytes: Uint8Array, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  out.set(bytes.subarray(0, Math.min(size, bytes.byteLength)))
  return out
}

const contents = async (d: RamDiskDevice | QcowDevice): Promise<Uint8Array> => {
  const info = await run(d.getInfo())
  const out = new Uint8Array(info.sizeSectors * 512)
  await run(d.read(0, [out]))
  return out
}

/** A RamDisk of `size` bytes holding a pattern in every other 64 KiB memory chunk, the chunks between left unmapped. */
const sparseBacking = async (size: number): Promise<{ disk: RamDiskDevice; bytes: Uint8Array }> => {
  const bytes = pattern(size, 1)
  const chunk = 64 * 1024
  for (let at = chunk; at < size; at += 2 * chunk) bytes.fill(0, at, at + chunk)
  const disk = await diskWith(bytes)
  for (let at = chunk; at < size; at += 2 * chunk) await run(disk.discard(at / 512, Math.min(chunk, size - at) / 512))
  return { disk, bytes }
}

/** seekMapped/seekUnmapped from `sector`: exactly one answers `sector` inside the disk, and the unmapped run found reads as zeroes. */
const expectSeeksAt = async (device: QcowDevice, model: Uint8Array, sector: number): Promise<void> => {
  const size = model.byteLength / 512
  const mapped = await run(device.seekMapped(sector))
  const unmapped = await run(device.seekUnmapped(sector))
  if (sector === size) expect([mapped, unmapped]).toEqual([size, size])
  else expect([mapped === sector, unmapped === sector].sort()).toEqual([false, true])
  if (unmapped === size) return
  const next = await run(device.seekMapped(unmapped))
  expect(next).toBeGreaterThan(unmapped)
  expect(model.subarray(unmapped * 512, next * 512).every((b) => b === 0)).toBe(true)
}

const runSequence = async (c: Config, ops: ReadonlyArray<Op>): Promise<void> => {
  const disk = await ramDisk(0)
  const sparse = await sparseBacking(c.backingSize)
  let backing = sparse.disk
  let device: QcowDevice = await run(Qcow.create(disk, { size: c.size, clusterSize: c.clusterSize, compat: c.compat ?? '1.1', backingFile: 'b', backing }))
  const model = guestView(sparse.bytes, c.size)
  for (const op of ops) {
    switch (op.kind) {
      case 'write':
        await writeModelled(device, model, op.sector, op.sectors, op.seed)
        break
      case 'read':
        await expectReadsModel(device, model, op.sector, op.sectors)
        break
      case 'discard':
        await run(device.discard(op.sector, op.sectors))
        model.fill(0, op.sector * 512, (op.sector + op.sectors) * 512)
        break
      case 'zero':
        await run(device.writeZeroes(op.sector, op.sectors, { unmap: op.unmap }))
        model.fill(0, op.sector * 512, (op.sector + op.sectors) * 512)
        break
      case 'flush':
        await run(device.flush())
        break
      case 'reconnect':
        await run(device.disconnect())
        device = await run(Qcow.connect(disk, { backing }))
        break
      case 'commit': {
        const before = await contents(backing)
        await run(device.commit())
        const after = await contents(backing)
        expect(after.byteLength).toBe(Math.max(before.byteLength, c.size))
        expect(sameBytes(after.subarray(0, c.size), model)).toBe(true)
        expect(sameBytes(after.subarray(c.size), before.subarray(c.size))).toBe(true)
        break
      }
      case 'rebase': {
        const bytes = pattern(c.backingSize, op.seed)
        const next = await diskWith(bytes)
        const before = await contents(device)
        await run(device.rebase(next, { backingFile: 'next', unsafe: op.unsafe }))
        if (op.unsafe) {
          // Only the header changes: unallocated ranges now show the new backing.
          const now = await contents(device)
          const shown = guestView(bytes, c.size)
          for (let i = 0; i < c.size; i += 512) {
            const s = now.subarray(i, i + 512)
            expect(sameBytes(s, before.subarray(i, i + 512)) || sameBytes(s, shown.subarray(i, i + 512))).toBe(true)
          }
          model.set(now)
        }
        backing = next
        break
      }
      case 'seek':
        await expectSeeksAt(device, model, op.sector)
        break
    }
  }
  expect(sameBytes(await contents(device), model)).toBe(true)
  await expectSeeksFollowMap(device, await run(device.map()), model, new Set([1]))
  await run(device.disconnect())
  const reopened = await run(Qcow.connect(disk, { readOnly: true, backing }))
  expect(sameBytes(await contents(reopened), model)).toBe(true)
}

const configs: Config[] = [
  { clusterSize: 512, size: 512 * 1024, backingSize: 300 * 1024, maxWrite: 8 * 1024 },
  { clusterSize: 4096, size: 1024 * 1024, backingSize: 1536 * 1024, maxWrite: 64 * 1024, compat: '0.10' },
  { clusterSize: 65536, size: 2 * 1024 * 1024, backingSize: 1024 * 1024 + 512, maxWrite: 200 * 1024 },
]

describe('overlay over a RamDisk backing against a byte-array model', () => {
  for (const c of configs) {
    it(`${c.clusterSize}-byte clusters, backing ${c.backingSize < c.size ? 'shorter' : 'longer'} than the overlay${c.compat === '0.10' ? ', v2' : ''}`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb(c), { minLength: 1, maxLength: 30 }), (ops) => runSequence(c, ops)),
        { numRuns: Number(process.env.MODEL_RUNS ?? 12) },
      )
    })
  }
})
