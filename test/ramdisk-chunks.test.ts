// RamDisk's chunk store: chunks carved from shared slabs never share memory, start zeroed (also when a
// released slot is reused), keep what was written, and released slabs are let go.
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { ChunkStore } from '../src/ramdisk/chunks.js'

const BYTES = 8

it('chunks behave like independent zero-initialised arrays under random takes, writes and releases', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), index: fc.integer({ min: 0, max: 40 }), value: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('release' as const), index: fc.integer({ min: 0, max: 40 }) }),
  )
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const store = new ChunkStore(BYTES)
      const model = new Map<number, Uint8Array>()
      for (const o of ops) {
        if (o.kind === 'write') {
          const fresh = store.get(o.index) === undefined
          const chunk = store.take(o.index)
          if (fresh) expect([...chunk]).toEqual(new Array(BYTES).fill(0))
          chunk[o.value % BYTES] = o.value
          const m = model.get(o.index) ?? new Uint8Array(BYTES)
          m[o.value % BYTES] = o.value
          model.set(o.index, m)
        } else {
          store.release(o.index)
          model.delete(o.index)
        }
        expect(store.size).toBe(model.size)
        for (const [index, m] of model) expect([...(store.get(index) as Uint8Array)]).toEqual([...m])
        expect([...store.keys()].sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b))
      }
    }),
    { numRuns: 200 },
  )
})
