// Dirty images (lazy refcounts after a crash): opened read-write, their refcounts are rebuilt before use.
import { readFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { check, createImage, describeWithQemu, fileFromDevice, qemuIo, ramDiskFromBytes, useTempDir } from '../support/qemu.js'
import { Qcow, pattern, run, sameBytes } from './support/harness.js'

describeWithQemu('dirty images', () => {
  const dir = useTempDir('qcow-dirty-')

  it('a QEMU image killed with lazy refcounts is rebuilt on read-write open and then checks clean', async () => {
    const path = dir.file('killed.qcow2')
    await createImage(path, { size: 64 * 1024 * 1024, lazyRefcounts: true })
    await qemuIo(path, ['write -P 0x5a 0 512', 'write -P 0xa5 1M 128k', 'sigraise 9'])
    const before = await check(path)
    expect(before.report?.corruptions ?? 0).toBeGreaterThan(0)
    const base = await ramDiskFromBytes(new Uint8Array(await readFile(path)))
    const device = await run(Qcow.connect(base))
    expect((await run(device.header())).dirty).toBe(false)
    const first = new Uint8Array(512)
    await run(device.read(0, [first]))
    expect(first.every((b) => b === 0x5a)).toBe(true)
    const second = new Uint8Array(128 * 1024)
    await run(device.read(2048, [second]))
    expect(second.every((b) => b === 0xa5)).toBe(true)
    const more = pattern(256 * 1024, 3)
    await run(device.write(8192, [more]))
    await run(device.disconnect())
    const again = await run(Qcow.connect(base, { readOnly: true }))
    const back = new Uint8Array(more.byteLength)
    await run(again.read(8192, [back]))
    expect(sameBytes(back, more)).toBe(true)
    const rebuilt = dir.file('rebuilt.qcow2')
    await fileFromDevice(base, rebuilt)
    const after = await check(rebuilt)
    expect(after.code).toBe(0)
    expect(after.report?.corruptions ?? 0).toBe(0)
    expect(after.report?.leaks ?? 0).toBe(0)
  })

  it('our own lazy-refcount image is marked dirty while writing and clean after flush', async () => {
    const base = await ramDiskFromBytes(new Uint8Array(0))
    await run(base.resize(1024))
    const device = await run(Qcow.create(base, { size: 16 * 1024 * 1024, lazyRefcounts: true }))
    await run(device.write(0, [pattern(65536, 1)]))
    expect((await run(device.header())).dirty).toBe(true)
    await run(device.flush())
    expect((await run(device.header())).dirty).toBe(false)
    await run(device.disconnect())
    const path = dir.file('lazy.qcow2')
    await fileFromDevice(base, path)
    expect((await check(path)).code).toBe(0)
  })
})
