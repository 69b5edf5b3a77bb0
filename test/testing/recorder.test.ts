// Property tests of recorder(): its crash images are exactly the states a byte-array model allows after a power cut.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import { faulty, recorder, type CrashImage, type KeepStrategy } from '../../src/testing/index.js'
import { filled, must, ramDisk, readAll, run } from './support.js'

const START_SECTORS = 32

type Op =
  | { readonly kind: 'write'; readonly sector: number; readonly sectors: number; readonly seed: number }
  | { readonly kind: 'discard' | 'writeZeroes'; readonly sector: number; readonly sectors: number }
  | { readonly kind: 'flush' }
  | { readonly kind: 'grow'; readonly by: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), sector: fc.nat(40), sectors: fc.integer({ min: 1, max: 6 }), seed: fc.nat(1000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('discard' as const, 'writeZeroes' as const), sector: fc.nat(40), sectors: fc.integer({ min: 1, max: 6 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), by: fc.integer({ min: 1, max: 8 }) }) },
)

/** The byte-array model's view of one recorded operation: the log length after it, and what it did. */
interface Step {
  readonly logAfter: number
  readonly op: Op
  /** Model contents right after the step. */
  readonly contents: Uint8Array
  /** For a write: the first sector and the bytes it put there. */
  readonly wrote?: { readonly sector: number; readonly bytes: Uint8Array }
}

/** Runs `ops` sequentially on a recorder over a RamDisk holding initial data, and on the model. */
const record = async (ops: ReadonlyArray<Op>) => {
  const ram = await ramDisk(START_SECTORS)
  const initial = filled(START_SECTORS, 99)
  await run(ram.write(0, [initial]))
  const rec = recorder(ram)
  let model: Uint8Array = initial.slice()
  const steps: Step[] = []
  for (const op of ops) {
    const size = model.length / 512
    if (op.kind === 'flush') {
      await run(rec.flush())
      steps.push({ logAfter: rec.operations(), op, contents: model.slice() })
      continue
    }
    if (op.kind === 'grow') {
      await run(rec.resize!(size + op.by))
      const grown = new Uint8Array((size + op.by) * 512)
      grown.set(model)
      model = grown
      steps.push({ logAfter: rec.operations(), op, contents: model.slice() })
      continue
    }
    if (op.sector + op.sectors > size) {
      const refused = op.kind === 'write' ? await rec.write(op.sector, [filled(op.sectors, op.seed)])() : await rec[op.kind]!(op.sector, op.sectors)()
      expect(E.isLeft(refused) && refused.left._tag).toBe('OutOfRange')
      continue
    }
    const bytes = op.kind === 'write' ? filled(op.sectors, op.seed) : new Uint8Array(op.sectors * 512)
    await run(op.kind === 'write' ? rec.write(op.sector, [bytes]) : rec[op.kind]!(op.sector, op.sectors))
    model.set(bytes, op.sector * 512)
    steps.push({ logAfter: rec.operations(), op, contents: model.slice(), wrote: { sector: op.sector, bytes } })
  }
  return { rec, ram, initial, model, steps }
}

/** Per cut point: the durable contents (at the last flush before the cut) and the writes since. */
const allowedAt = (initial: Uint8Array, steps: ReadonlyArray<Step>, cut: number) => {
  let durable = initial
  let current = initial
  let pending: Array<{ sector: number; bytes: Uint8Array }> = []
  for (const step of steps) {
    if (step.logAfter > cut) break
    current = step.contents
    if (step.op.kind === 'flush') {
      durable = step.contents
      pending = []
    } else if (step.wrote !== undefined) pending.push(step.wrote)
  }
  return { durable, current, pending }
}

const sector = (bytes: Uint8Array, s: number): Uint8Array => bytes.subarray(s * 512, (s + 1) * 512)
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i])

/** The contents a sector may hold after the cut: its durable contents (zero past the durable size) or any pending write's. */
const allowedSector = (allowed: ReturnType<typeof allowedAt>, s: number): Uint8Array[] => {
  const durable = s * 512 < allowed.durable.length ? sector(allowed.durable, s) : new Uint8Array(512)
  const out = [durable]
  for (const w of allowed.pending) {
    if (s >= w.sector && s < w.sector + w.bytes.length / 512) out.push(sector(w.bytes, s - w.sector))
  }
  return out
}

const checkImage = (image: CrashImage, allowed: ReturnType<typeof allowedAt>, keep: KeepStrategy): void => {
  const bytes = image.bytes()
  expect(bytes.length).toBe(allowed.current.length)
  const padded = new Uint8Array(allowed.current.length)
  padded.set(allowed.durable)
  if (keep === 'none') expect(same(bytes, padded)).toBe(true)
  if (keep === 'all') expect(same(bytes, allowed.current)).toBe(true)
  for (let s = 0; s < bytes.length / 512; s++) {
    if (!allowedSector(allowed, s).some((a) => same(a, sector(bytes, s)))) {
      expect.fail(`cut ${image.cutAt} (${keep}): sector ${s} holds neither its flushed contents nor an unflushed write's`)
    }
  }
}

describe('recorder', () => {
  it('forwards everything: the wrapped device ends as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), async (ops) => {
        const { ram, model } = await record(ops)
        expect(same(await readAll(ram), model)).toBe(true)
      }),
      { numRuns: 60 },
    )
  })

  it('forwards seeks without logging them, and offers them only when the device does', async () => {
    const ram = await ramDisk(256)
    const rec = recorder(ram)
    await run(rec.write(130, [filled(2, 4)]))
    await run(rec.flush())
    const logged = rec.operations()
    for (const from of [0, 127, 128, 131, 255, 256]) {
      expect(await run(rec.seekMapped!(from))).toBe(await run(ram.seekMapped(from)))
      expect(await run(rec.seekUnmapped!(from))).toBe(await run(ram.seekUnmapped(from)))
    }
    expect(await run(rec.seekMapped!(0))).toBe(128)
    expect(rec.operations()).toBe(logged)
    const bare: BlockDevice = { getInfo: () => ram.getInfo(), read: (s, b) => ram.read(s, b), write: (s, b) => ram.write(s, b), flush: () => ram.flush(), disconnect: () => ram.disconnect() }
    expect(typeof recorder(bare).seekMapped).toBe('undefined')
    expect(typeof recorder(bare).seekUnmapped).toBe('undefined')
  })

  it('produces, at every cut point and for every strategy, only states the crash model allows', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), fc.nat(), async (ops, seed) => {
        const { rec, initial, steps } = await record(ops)
        for (const keep of ['none', 'all', 'random', 'randomWrites'] as const) {
          const images = [...(await run(rec.crashImages({ keep, seed })))]
          expect(images.map((i) => i.cutAt)).toEqual(Array.from({ length: rec.operations() + 1 }, (_, i) => i))
          for (const image of images) checkImage(image, allowedAt(initial, steps, image.cutAt), keep)
        }
      }),
      { numRuns: 60 },
    )
  })

  it('reaches every allowed state: over seeds each sector shows each of its allowed contents', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
        const { rec, initial, steps } = await record(ops)
        const cut = rec.operations()
        const allowed = allowedAt(initial, steps, cut)
        const sizeSectors = allowed.current.length / 512
        const options = Array.from({ length: sizeSectors }, (_, s) => allowedSector(allowed, s))
        const seen = Array.from({ length: sizeSectors }, () => new Set<number>())
        for (let seed = 0; seed < 300; seed++) {
          const bytes = (await run(rec.crashImage({ cutAt: cut, keep: 'random', seed }))).bytes()
          for (let s = 0; s < sizeSectors; s++) seen[s].add(options[s].findIndex((o) => same(o, sector(bytes, s))))
        }
        for (let s = 0; s < sizeSectors; s++) {
          options[s].forEach((o, i) => {
            const firstOfItsContents = options[s].findIndex((p) => same(p, o)) === i
            if (firstOfItsContents && !seen[s].has(i)) expect.fail(`sector ${s}: allowed contents ${i} of ${options[s].length} never produced`)
          })
        }
      }),
      { numRuns: 15 },
    )
  })

  it('tears an unflushed multi-sector write under the random strategy, and never under randomWrites', async () => {
    const rec = recorder(await ramDisk(8))
    await run(rec.write(0, [filled(8, 1)]))
    const tornIn = async (keep: KeepStrategy): Promise<number> => {
      let torn = 0
      for (let seed = 0; seed < 50; seed++) {
        const bytes = (await run(rec.crashImage({ cutAt: 1, keep, seed }))).bytes()
        const kept = Array.from({ length: 8 }, (_, s) => sector(bytes, s)[0] !== 0)
        if (kept.includes(true) && kept.includes(false)) torn++
      }
      return torn
    }
    expect(await tornIn('random')).toBeGreaterThan(40)
    expect(await tornIn('randomWrites')).toBe(0)
  })

  it('keeps a write that completed after a flush started out of that flush', async () => {
    const ram = await ramDisk(8)
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    const slow: BlockDevice = {
      getInfo: () => ram.getInfo(),
      read: (s, b) => ram.read(s, b),
      write: (s, b) => async () => {
        await gate
        return ram.write(s, b)()
      },
      flush: () => ram.flush(),
      disconnect: () => ram.disconnect(),
    }
    const rec = recorder(slow)
    const writing = rec.write(0, [filled(1, 5)])()
    await new Promise((resolve) => setTimeout(resolve, 0))
    await run(rec.flush())
    release()
    must(await writing)
    const lost = await run(rec.crashImage({ cutAt: rec.operations(), keep: 'none' }))
    expect(same(lost.bytes(), new Uint8Array(8 * 512))).toBe(true)
    await run(rec.flush())
    const kept = await run(rec.crashImage({ cutAt: rec.operations(), keep: 'none' }))
    expect(same(must(kept.read(0, 1)), filled(1, 5))).toBe(true)
  })

  it('treats writes that failed with Io as possibly landed and never durable; refused writes as absent', async () => {
    const ram = await ramDisk(8)
    const rec = recorder(must(faulty(ram, { nth: { write: [1] }, failedWrites: 'unchanged' })))
    expect(E.isLeft(await rec.write(0, [filled(2, 1)])())).toBe(true)
    expect(E.isLeft(await rec.write(7, [filled(2, 2)])())).toBe(true)
    await run(rec.flush())
    const cut = rec.operations()
    const none = await run(rec.crashImage({ cutAt: cut, keep: 'none' }))
    const all = await run(rec.crashImage({ cutAt: cut, keep: 'all' }))
    expect(same(none.bytes(), new Uint8Array(8 * 512))).toBe(true)
    expect(same(must(all.read(0, 2)), filled(2, 1))).toBe(true)
    expect(same(must(all.read(2, 6)), new Uint8Array(6 * 512))).toBe(true)
  })

  it('builds RamDisks equal to the image bytes, and keeps images available after disconnect', async () => {
    const { rec, model } = await record([
      { kind: 'write', sector: 3, sectors: 9, seed: 4 },
      { kind: 'flush' },
      { kind: 'grow', by: 4 },
      { kind: 'write', sector: 30, sectors: 5, seed: 8 },
    ])
    await run(rec.disconnect())
    const image = await run(rec.crashImage({ cutAt: rec.operations(), keep: 'all' }))
    expect(same(image.bytes(), model)).toBe(true)
    const disk = await run(image.toRamDisk())
    expect(same(await readAll(disk), model)).toBe(true)
  })

  it('models a shrink as a size change at once plus an unflushed zeroing of the cut-off sectors', async () => {
    const ram = await ramDisk(8)
    await run(ram.write(0, [filled(8, 3)]))
    const rec = recorder(ram)
    await run(rec.resize!(4))
    await run(rec.resize!(8))
    const none = await run(rec.crashImage({ cutAt: rec.operations(), keep: 'none' }))
    const all = await run(rec.crashImage({ cutAt: rec.operations(), keep: 'all' }))
    expect(same(none.bytes(), filled(8, 3))).toBe(true)
    expect(same(must(all.read(4, 4)), new Uint8Array(4 * 512))).toBe(true)
    expect(none.sizeSectors).toBe(8)
    const mid = await run(rec.crashImage({ cutAt: 2, keep: 'none' }))
    expect(mid.sizeSectors).toBe(4)
  })

  it('refuses bad crash options with a value', async () => {
    const rec = recorder(await ramDisk(8))
    await run(rec.flush())
    for (const options of [{ cutAt: 2 }, { cutAt: -1 }, { cutAt: 0.5 }, { cutAt: 0, keep: 'some' }]) {
      const result = await rec.crashImage(options as never)()
      expect(E.isLeft(result) && result.left._tag).toBe('InvalidCrashOptions')
    }
    const many = await rec.crashImages({ cuts: [0, 5] })()
    expect(E.isLeft(many) && many.left._tag).toBe('InvalidCrashOptions')
  })

  it('handles thousands of cut points over a small image cheaply', async () => {
    const ram = await ramDisk(256)
    const rec = recorder(ram)
    for (let i = 0; i < 3000; i++) {
      await run(rec.write((i * 37) % 250, [filled(2, i)]))
      if (i % 7 === 0) await run(rec.flush())
    }
    const started = Date.now()
    let count = 0
    for (const image of await run(rec.crashImages({ keep: 'random', seed: 3 }))) {
      if (image.unflushedWrites > 7) expect.fail('more unflushed writes than issued since the last flush')
      count++
    }
    expect(count).toBe(rec.operations() + 1)
    expect(Date.now() - started).toBeLessThan(10_000)
  })
})
