// Property tests of faulty(): which calls fail, what failed calls leave behind, switching off, and plan decoding.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import { faulty, SCRIBBLE_BYTE, type FaultKind, type FaultPlan } from '../../src/testing/index.js'
import { filled, must, ramDisk, readAll, run } from './support.js'

const SECTORS = 64

type Op =
  | { readonly kind: 'read' | 'discard' | 'writeZeroes'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly seed: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'seek'; readonly sector: number; readonly mapped: boolean }
  | { readonly kind: 'toggle' }

const range = fc
  .tuple(fc.integer({ min: 0, max: SECTORS - 1 }), fc.integer({ min: 1, max: 8 }))
  .map(([sector, n]) => ({ sector, sectors: Math.min(n, SECTORS - sector) }))

const opArb: fc.Arbitrary<Op> = fc.oneof(
  range.map((r) => ({ kind: 'read' as const, ...r })),
  fc.tuple(range, fc.nat(1000)).map(([r, seed]) => ({ kind: 'write' as const, ...r, seed })),
  range.map((r) => ({ kind: 'discard' as const, ...r })),
  range.map((r) => ({ kind: 'writeZeroes' as const, ...r })),
  fc.constant({ kind: 'flush' as const }),
  fc.record({ kind: fc.constant('seek' as const), sector: fc.nat(SECTORS + 2), mapped: fc.boolean() }),
)

const kindArb = fc.constantFrom<FaultKind>('read', 'write', 'flush', 'discard', 'writeZeroes', 'seek')
const countsArb = fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 3 })

const planArb: fc.Arbitrary<FaultPlan> = fc.record(
  {
    nth: fc.record({ read: countsArb, write: countsArb, flush: countsArb, discard: countsArb, writeZeroes: countsArb, seek: countsArb }),
    from: fc.dictionary(kindArb, fc.integer({ min: 5, max: 40 }), { maxKeys: 2 }),
    sectors: fc.array(
      fc.record({ sector: fc.integer({ min: 0, max: SECTORS - 1 }), sectors: fc.integer({ min: 1, max: 4 }), kinds: fc.option(fc.uniqueArray(kindArb, { maxLength: 3 }), { nil: undefined }) }, { requiredKeys: ['sector', 'sectors'] }),
      { maxLength: 2 },
    ),
    failedWrites: fc.constantFrom('torn' as const, 'unchanged' as const),
    failedReads: fc.constantFrom('scribbled' as const, 'untouched' as const),
    seed: fc.nat(),
  },
  { requiredKeys: [] },
)

/** What the plan says about one call, computed independently of the library's decision code. */
const expectedFailure = (plan: FaultPlan, kind: FaultKind, index: number, r?: { sector: number; sectors: number }): boolean => {
  if (plan.nth?.[kind]?.includes(index) === true) return true
  const from = plan.from?.[kind]
  if (from !== undefined && index >= from) return true
  if (r === undefined || plan.sectors === undefined) return false
  return plan.sectors.some(
    (s) => (s.kinds ?? ['read', 'write', 'discard', 'writeZeroes']).includes(kind) && s.sector < r.sector + r.sectors && r.sector < s.sector + s.sectors,
  )
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

const sectorOf = (bytes: Uint8Array, s: number): Uint8Array => bytes.subarray(s * 512, (s + 1) * 512)

describe('faulty', () => {
  it('fails exactly the planned calls with Io errors, and failed calls leave what the plan documents', async () => {
    await fc.assert(
      fc.asyncProperty(planArb, fc.array(fc.oneof({ weight: 12, arbitrary: opArb }, { weight: 1, arbitrary: fc.constant({ kind: 'toggle' as const }) }), { maxLength: 40 }), async (plan, ops) => {
        const ram = await ramDisk(SECTORS)
        const device = must(faulty(ram, plan))
        let model: Uint8Array = new Uint8Array(SECTORS * 512)
        let enabled = true
        const calls: Record<FaultKind, number> = { read: 0, write: 0, flush: 0, discard: 0, writeZeroes: 0, resize: 0, seek: 0 }
        const injected: Record<FaultKind, number> = { ...calls }
        for (const op of ops) {
          if (op.kind === 'toggle') {
            enabled = !enabled
            device.setEnabled(enabled)
            expect(device.isEnabled()).toBe(enabled)
            continue
          }
          const index = ++calls[op.kind]
          const fails = enabled && expectedFailure(plan, op.kind, index, op.kind === 'flush' || op.kind === 'seek' ? undefined : op)
          if (fails) injected[op.kind]++
          if (op.kind === 'seek') {
            const seek = (d: BlockDevice<{ readonly _tag: string }>) => (op.mapped ? d.seekMapped!(op.sector) : d.seekUnmapped!(op.sector))
            const result = await seek(device)()
            expect(E.isLeft(result) && result.left._tag === 'Io').toBe(fails)
            if (!fails) expect(result).toEqual(await seek(ram)())
            continue
          }
          if (op.kind === 'flush') {
            const result = await device.flush()()
            expect(E.isLeft(result) && result.left._tag === 'Io').toBe(fails)
            continue
          }
          if (op.kind === 'read') {
            const buffer = new Uint8Array(op.sectors * 512).fill(7)
            const result = await device.read(op.sector, [buffer])()
            expect(E.isLeft(result) && result.left._tag === 'Io').toBe(fails)
            if (!fails) expect(sameBytes(buffer, model.subarray(op.sector * 512, (op.sector + op.sectors) * 512))).toBe(true)
            else expect(buffer.every((b) => b === (plan.failedReads === 'untouched' ? 7 : SCRIBBLE_BYTE))).toBe(true)
            continue
          }
          const data = op.kind === 'write' ? filled(op.sectors, op.seed) : new Uint8Array(op.sectors * 512)
          const result =
            op.kind === 'write'
              ? await device.write(op.sector, [data])()
              : op.kind === 'discard'
                ? await device.discard!(op.sector, op.sectors)()
                : await device.writeZeroes!(op.sector, op.sectors)()
          expect(E.isLeft(result) && result.left._tag === 'Io').toBe(fails)
          const actual = await readAll(ram)
          for (let s = 0; s < SECTORS; s++) {
            const inside = s >= op.sector && s < op.sector + op.sectors
            const now = sectorOf(actual, s)
            const old = sectorOf(model, s)
            const newer = inside ? sectorOf(data, s - op.sector) : old
            const allowed = !fails ? [newer] : plan.failedWrites === 'unchanged' || !inside ? [old] : [old, newer]
            if (!allowed.some((a) => sameBytes(now, a))) expect.fail(`sector ${s} after ${op.kind} holds neither allowed content`)
          }
          model = actual
        }
        const stats = device.stats()
        expect(stats.calls).toEqual(calls)
        expect(stats.injected).toEqual(injected)
        expect(stats.totalInjected).toBe(Object.values(injected).reduce((a, b) => a + b, 0))
      }),
      { numRuns: 150 },
    )
  })

  it('tears failed writes by default: some runs keep some sectors and lose others', async () => {
    const outcomes = new Set<string>()
    for (let seed = 0; seed < 20; seed++) {
      const ram = await ramDisk(8)
      const device = must(faulty(ram, { nth: { write: [1] }, seed }))
      expect(E.isLeft(await device.write(0, [filled(8, 1)])())).toBe(true)
      const after = await readAll(ram)
      const kept = Array.from({ length: 8 }, (_, s) => (sectorOf(after, s)[0] === 0 ? '0' : '1')).join('')
      outcomes.add(kept)
    }
    expect([...outcomes].some((o) => o.includes('0') && o.includes('1'))).toBe(true)
    expect(outcomes.size).toBeGreaterThan(5)
  })

  it('injects a seeded random fraction deterministically, only for the chosen kinds', async () => {
    const pattern = async (seed: number, rate: number, kinds?: FaultKind[]): Promise<string> => {
      const device = must(faulty(await ramDisk(SECTORS), { random: kinds === undefined ? { seed, rate } : { seed, rate, kinds } }))
      let out = ''
      for (let i = 0; i < 200; i++) {
        const r = i % 3 === 0 ? await device.flush()() : await device.read(i % SECTORS, [new Uint8Array(512)])()
        out += E.isLeft(r) ? 'x' : '.'
      }
      return out
    }
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.double({ min: 0, max: 1, noNaN: true }), async (seed, rate) => {
        const a = await pattern(seed, rate)
        expect(await pattern(seed, rate)).toBe(a)
        const failures = [...a].filter((c) => c === 'x').length
        expect(Math.abs(failures / 200 - rate)).toBeLessThan(0.2)
        const onlyFlush = await pattern(seed, rate, ['flush'])
        for (let i = 0; i < 200; i++) if (i % 3 !== 0) expect(onlyFlush[i]).toBe('.')
      }),
      { numRuns: 40 },
    )
    expect(await pattern(1, 0)).not.toContain('x')
    expect(await pattern(1, 1)).not.toContain('.')
  })

  it('fails resizes as planned without changing the size', async () => {
    const ram = await ramDisk(8)
    const device = must(faulty(ram, { nth: { resize: [1] } }))
    const failed = await device.resize!(16)()
    expect(E.isLeft(failed) && failed.left._tag === 'Io').toBe(true)
    expect((await run(ram.getInfo())).sizeSectors).toBe(8)
    await run(device.resize!(16))
    expect((await run(ram.getInfo())).sizeSectors).toBe(16)
  })

  it('offers exactly the optional operations of the wrapped device', async () => {
    const ram = await ramDisk(8)
    const bare: BlockDevice = {
      getInfo: () => ram.getInfo(),
      read: (s, b) => ram.read(s, b),
      write: (s, b) => ram.write(s, b),
      flush: () => ram.flush(),
      disconnect: () => ram.disconnect(),
    }
    const wrapped = must(faulty(bare, {}))
    expect(typeof wrapped.discard).toBe('undefined')
    expect(typeof wrapped.writeZeroes).toBe('undefined')
    expect(typeof wrapped.resize).toBe('undefined')
    expect(typeof wrapped.seekMapped).toBe('undefined')
    expect(typeof wrapped.seekUnmapped).toBe('undefined')
    const full = must(faulty(ram, {}))
    expect(typeof full.discard).toBe('function')
    expect(typeof full.resize).toBe('function')
    expect(typeof full.seekMapped).toBe('function')
    expect(typeof full.seekUnmapped).toBe('function')
  })

  it('fails seeks as planned, counting seekMapped and seekUnmapped as one kind', async () => {
    const ram = await ramDisk(64)
    await run(ram.write(0, [filled(8, 3)]))
    const device = must(faulty(ram, { nth: { seek: [2] } }))
    expect(await run(device.seekUnmapped!(0))).toBe(await run(ram.seekUnmapped(0)))
    const failed = await device.seekMapped!(8)()
    expect(E.isLeft(failed) && failed.left._tag === 'Io' && failed.left.operation).toBe('seek')
    expect(await run(device.seekMapped!(8))).toBe(await run(ram.seekMapped(8)))
    expect(device.stats().calls.seek).toBe(3)
    expect(device.stats().injected.seek).toBe(1)
  })

  it('passes the inner device errors through unchanged', async () => {
    const device = must(faulty(await ramDisk(8), {}))
    const result = await device.write(7, [new Uint8Array(1024)])()
    expect(E.isLeft(result) && result.left._tag).toBe('OutOfRange')
    const misaligned = await device.read(0, [new Uint8Array(100)])()
    expect(E.isLeft(misaligned) && misaligned.left._tag).toBe('Misaligned')
  })

  it('refuses plans that do not decode', () => {
    const bad: unknown[] = [
      { random: { seed: 1, rate: 2 } },
      { nth: { write: [0] } },
      { nth: { write: 3 } },
      { sectors: [{ sector: -1, sectors: 1 }] },
      { failedWrites: 'maybe' },
      { random: { rate: 0.5 } },
      'everything',
    ]
    for (const plan of bad) {
      const result = faulty({} as BlockDevice, plan as FaultPlan)
      expect(E.isLeft(result) && result.left._tag).toBe('InvalidFaultPlan')
    }
  })
})
