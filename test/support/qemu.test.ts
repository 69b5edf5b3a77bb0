// Checks the QEMU test wrappers themselves: process results, JSON codecs and file/RamDisk moves.
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { expect, it } from 'vitest'
import {
  check,
  compare,
  createImage,
  describeWithQemu,
  fileFromDevice,
  makeTempDir,
  info,
  map,
  qcow2Specific,
  QemuCheckCodec,
  qemuIo,
  qemuIoOk,
  ramDiskFromBytes,
  ramDiskFromFile,
  run,
  toRawBytes,
  useTempDir,
  writeBytes,
} from './qemu.js'

it('run reports a missing binary as exit code -1 instead of rejecting', async () => {
  const r = await run('/nonexistent/qemu-img-missing', ['--version'])
  expect(r.code).toBe(-1)
  expect(r.stderr).toMatch(/ENOENT/)
})

it('run closes stdin, so a tool waiting for input ends', async () => {
  const r = await run('cat', [])
  expect(r).toEqual({ stdout: '', stderr: '', code: 0 })
})

it('the check codec requires the always-present fields and accepts the optional counters', () => {
  const base = { filename: 'x', format: 'qcow2', 'check-errors': 0, 'total-clusters': 4 }
  expect(E.isRight(QemuCheckCodec.decode(base))).toBe(true)
  expect(E.isRight(QemuCheckCodec.decode({ ...base, 'allocated-clusters': 1, leaks: 2, corruptions: 1 }))).toBe(true)
  expect(E.isLeft(QemuCheckCodec.decode({ ...base, 'check-errors': undefined }))).toBe(true)
  expect(E.isLeft(QemuCheckCodec.decode({ ...base, leaks: '2' }))).toBe(true)
})

it('ramDiskFromBytes pads to whole sectors and fileFromDevice writes the device back', async () => {
  const bytes = new Uint8Array(1000).map((_, i) => (i * 7) & 255)
  const device = await ramDiskFromBytes(bytes)
  const dir = await makeTempDir()
  try {
    await fileFromDevice(device, dir.file('out.bin'))
    const back = new Uint8Array(await readFile(dir.file('out.bin')))
    expect(back.byteLength).toBe(1024)
    expect(back.subarray(0, 1000)).toEqual(bytes)
    expect(back.subarray(1000).every((b) => b === 0)).toBe(true)
  } finally {
    await dir.remove()
  }
})

describeWithQemu('qemu wrappers against qemu-img 7.2', () => {
  const tmp = useTempDir()

  it('create, qemu-io, info, map, check, raw conversion and compare agree', async () => {
    const image = tmp.file('a.qcow2')
    await createImage(image, { size: 1 << 20, clusterSize: 4096, refcountBits: 1, lazyRefcounts: true, compressionType: 'zstd' })
    await qemuIoOk(image, ['write -P 0xab 4096 8192', 'write -z 65536 4096'])
    const failed = await qemuIo(image, ['read -P 0xcd 4096 512'])
    expect(failed.code).not.toBe(0)

    const i = await info(image)
    expect(i['virtual-size']).toBe(1 << 20)
    expect(i['cluster-size']).toBe(4096)
    const specific = qcow2Specific(i)
    expect(specific['refcount-bits']).toBe(1)
    expect(specific['lazy-refcounts']).toBe(true)
    expect(specific['compression-type']).toBe('zstd')

    const entries = await map(image)
    expect(entries.find((e) => e.start === 4096)).toMatchObject({ data: true, zero: false, length: 8192 })
    expect(entries.find((e) => e.start === 65536)).toMatchObject({ data: false, zero: true, present: true })

    const c = await check(image)
    expect(c.code).toBe(0)
    expect(c.report?.leaks ?? 0).toBe(0)

    const raw = await toRawBytes(image)
    const expected = new Uint8Array(1 << 20)
    expected.fill(0xab, 4096, 4096 + 8192)
    expect(raw).toEqual(expected)

    await writeBytes(tmp.file('same.raw'), expected)
    expect((await compare(image, tmp.file('same.raw'), { formatB: 'raw' })).code).toBe(0)
    expected[5000] = 1
    await writeBytes(tmp.file('other.raw'), expected)
    expect((await compare(image, tmp.file('other.raw'), { formatB: 'raw' })).code).toBe(1)

    const copy = tmp.file('copy.qcow2')
    await fileFromDevice(await ramDiskFromFile(image), copy)
    expect((await compare(image, copy)).code).toBe(0)
  })

  it('check reports a leak as data (exit 3)', async () => {
    const image = tmp.file('leak.qcow2')
    await createImage(image, { size: 1 << 20 })
    await qemuIoOk(image, ['write -P 1 0 64k'])
    // Zero the first L2 entry: the fresh-image layout puts the L2 table at 0x40000.
    const bytes = new Uint8Array(await readFile(image))
    bytes.fill(0, 0x40000, 0x40008)
    await writeBytes(image, bytes)
    const c = await check(image)
    expect(c.code).toBe(3)
    expect(c.report?.leaks).toBe(1)
  })
})
