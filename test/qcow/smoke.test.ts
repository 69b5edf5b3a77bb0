import { describe, it, expect } from 'vitest'
import { makeQcow, RamDisk } from '../../src/index.js'
import * as E from 'fp-ts/lib/Either.js'

describe('smoke', () => {
  it('create write read', async () => {
    const Qcow = makeQcow(RamDisk)
    const base = await RamDisk.connect({ size: 512 * 1024 })()
    if (E.isLeft(base)) throw base
    const dev = await Qcow.create(base.right, { size: 64 * 1024 * 1024 })()
    if (E.isLeft(dev)) throw new Error(JSON.stringify(dev.left))
    const buf = new Uint8Array(4096).fill(7)
    const w = await dev.right.write(10, [buf])()
    expect(w).toEqual(E.right(undefined))
    const out = new Uint8Array(8192)
    const r = await dev.right.read(8, [out])()
    expect(r).toEqual(E.right(undefined))
    expect(out[1023]).toBe(0); expect(out[1024]).toBe(7); expect(out[1024+4095]).toBe(7); expect(out[1024+4096]).toBe(0)
    expect(await dev.right.disconnect()()).toEqual(E.right(undefined))
    const again = await Qcow.connect(base.right)()
    if (E.isLeft(again)) throw new Error(JSON.stringify(again.left))
    const out2 = new Uint8Array(8192)
    await again.right.read(8, [out2])()
    expect(out2).toEqual(out)
  })
})
