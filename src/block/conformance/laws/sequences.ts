// Law: under random sequences of requests, reads return what a byte-array model says the device holds.
import * as fc from 'fast-check'
import { concat, expectBytes, fillSeeded, fitShape, makeBuffers, readWhole, shapeArb, shapeSectors, type BufferShape } from '../data.js'
import { refuse, show, succeed, violation, withDevice, type Subject } from '../harness.js'
import { ByteModel } from '../model.js'
import type { DeviceFactory, Tagged } from '../types.js'

/** One request of a random sequence; positions are reduced modulo the device's size when run. */
type Step =
  | { readonly kind: 'write'; readonly at: number; readonly shape: ReadonlyArray<BufferShape>; readonly seed: number }
  | { readonly kind: 'read'; readonly at: number; readonly shape: ReadonlyArray<BufferShape> }
  | { readonly kind: 'flush' }
  | { readonly kind: 'discard' | 'writeZeroes'; readonly at: number; readonly count: number }
  | { readonly kind: 'resize'; readonly size: number }
  | { readonly kind: 'seek'; readonly at: number }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('write' as const), at: fc.nat(), shape: shapeArb, seed: fc.nat(255) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('read' as const), at: fc.nat(), shape: shapeArb }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'flush' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constantFrom('discard' as const, 'writeZeroes' as const), at: fc.nat(), count: fc.nat(12) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('resize' as const), size: fc.nat() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('seek' as const), at: fc.nat() }), weight: 1 },
)

/** Where a request of `sectors` sectors starts, given a random `at`, so that it fits a device of `size` sectors. */
const place = (at: number, sectors: number, size: number): number => at % (size - sectors + 1)

/**
 * `seekMapped`/`seekUnmapped` from `at` (when offered): answers within `[at, size]`, exactly one of
 * them `at` inside the device (both the size at its end), and the unmapped run found reads as zeroes.
 */
const checkSeeks = async <E extends Tagged>(subject: Subject<E>, model: ByteModel, at: number): Promise<void> => {
  const { seekMapped, seekUnmapped } = subject.device
  if (seekMapped === undefined || seekUnmapped === undefined) return
  const size = model.sizeSectors
  const from = at % (size + 1)
  const mapped = await succeed(`seekMapped(${from})`, () => seekMapped.call(subject.device, from))
  const unmapped = await succeed(`seekUnmapped(${from})`, () => seekUnmapped.call(subject.device, from))
  for (const [name, found] of [['seekMapped', mapped], ['seekUnmapped', unmapped]] as const) {
    if (!Number.isSafeInteger(found) || found < from || found > size) violation(`${name}(${from}) returned ${show(found)} on a device of ${size} sectors`)
  }
  if (from === size ? mapped !== size || unmapped !== size : (mapped === from) === (unmapped === from)) {
    violation(`sector ${from} of ${size}: seekMapped returned ${mapped} and seekUnmapped ${unmapped}; exactly one must be ${from}`)
  }
  if (unmapped === size) return
  const next = await succeed(`seekMapped(${unmapped})`, () => seekMapped.call(subject.device, unmapped))
  if (!Number.isSafeInteger(next) || next <= unmapped || next > size) violation(`seekMapped(${unmapped}) returned ${show(next)} after seekUnmapped found ${unmapped}`)
  const held = model.view(unmapped, next - unmapped)
  const nonZero = held.findIndex((b) => b !== 0)
  if (nonZero >= 0) violation(`sectors ${unmapped} to ${next} are reported unmapped but sector ${unmapped + Math.floor(nonZero / model.sectorSize)} holds data`)
}

const runStep = async <E extends Tagged>(subject: Subject<E>, model: ByteModel, step: Step, initialSize: number): Promise<void> => {
  const { device, readWrite, sectorSize } = subject
  const size = model.sizeSectors
  const mutation = readWrite ? null : ['ReadOnly']
  switch (step.kind) {
    case 'write': {
      const shape = fitShape(step.shape, size)
      const sector = place(step.at, shapeSectors(shape), size)
      const buffers = makeBuffers(shape, sectorSize)
      buffers.forEach((b, i) => fillSeeded(b, step.seed, sector * sectorSize + shape.slice(0, i).reduce((n, s) => n + s.sectors * sectorSize, 0)))
      const what = `write of ${shapeSectors(shape)} sector(s) at ${sector} in ${shape.length} buffer(s)`
      if (mutation !== null) return refuse(what, () => device.write(sector, buffers), mutation)
      await succeed(what, () => device.write(sector, buffers))
      model.write(sector, concat(buffers))
      for (const b of buffers) b.fill(0xa5) // the device must have copied what it keeps
      return
    }
    case 'read': {
      const shape = fitShape(step.shape, size)
      const sector = place(step.at, shapeSectors(shape), size)
      const buffers = makeBuffers(shape, sectorSize, 0xcc)
      await succeed(`read of ${shapeSectors(shape)} sector(s) at ${sector} in ${shape.length} buffer(s)`, () => device.read(sector, buffers))
      return expectBytes(`read at ${sector}`, concat(buffers), model.view(sector, shapeSectors(shape)), sector, sectorSize)
    }
    case 'flush':
      return void (await succeed('flush', () => device.flush()))
    case 'discard':
    case 'writeZeroes': {
      const op = device[step.kind]
      if (op === undefined) return
      const count = Math.min(step.count, size)
      const sector = place(step.at, count, size)
      const what = `${step.kind} of ${count} sector(s) at ${sector}`
      if (mutation !== null) return refuse(what, () => op.call(device, sector, count), mutation)
      await succeed(what, () => op.call(device, sector, count))
      return model.zero(sector, count)
    }
    case 'resize': {
      const op = device.resize
      if (op === undefined) return
      const target = step.size % (2 * initialSize + 2)
      const what = `resize to ${target} sector(s)`
      if (mutation !== null) return refuse(what, () => op.call(device, target), mutation)
      await succeed(what, () => op.call(device, target))
      model.resize(target)
      const info = await succeed('getInfo after resize', () => device.getInfo())
      if (info.sizeSectors !== target) violation(`after ${what}, getInfo reports ${info.sizeSectors} sectors`)
      return
    }
    case 'seek':
      return checkSeeks(subject, model, step.at)
  }
}

/** Reads after writes (and flushes, zeroings, resizes when offered) match a byte-array model; read-only devices refuse every change. */
export const sequencesLaw =
  <E extends Tagged>(factory: DeviceFactory<E>) =>
  (steps: ReadonlyArray<Step>): Promise<void> =>
    withDevice(factory, async (subject) => {
      const model = new ByteModel(subject.contents, subject.sectorSize)
      for (const step of steps) await runStep(subject, model, step, subject.sizeSectors)
      const whole = await readWhole(subject.device, model.sizeSectors, subject.sectorSize)
      expectBytes('final read of the whole device', whole, model.view(0, model.sizeSectors), 0, subject.sectorSize)
    })

/** Random request sequences for `sequencesLaw`. */
export const sequencesArb = fc.array(stepArb, { maxLength: 24 })
