// Refcount table entries: what setReftableEntry stores, reftableEntryOffset reads back, reserved bits aside.
import { describe, expect } from 'vitest'
import { fc, test } from '@fast-check/vitest'
import { REFTABLE_RESERVED_LO, reftableEntryOffset, setReftableEntry } from '../../src/qcow/format/entries.js'

const alignedOffset = fc.integer({ min: 0, max: Math.floor(Number.MAX_SAFE_INTEGER / 512) }).map((n) => n * 512)

describe('refcount table entries', () => {
  test.prop([alignedOffset, fc.integer({ min: 0, max: 15 })])('an offset stored reads back exactly', (offset, index) => {
    const view = new DataView(new ArrayBuffer(16 * 8))
    setReftableEntry(view, index, offset)
    expect(reftableEntryOffset(view, index)).toBe(offset)
    expect(view.getUint32(index * 8) * 2 ** 32 + view.getUint32(index * 8 + 4)).toBe(offset)
  })

  test.prop([alignedOffset, fc.integer({ min: 0, max: REFTABLE_RESERVED_LO })])('reserved low bits do not change the offset read', (offset, reserved) => {
    const view = new DataView(new ArrayBuffer(8))
    setReftableEntry(view, 0, offset)
    view.setUint32(4, view.getUint32(4) | reserved)
    expect(reftableEntryOffset(view, 0)).toBe(offset)
  })
})
