// Hostile images: every header field pushed out of range gives InvalidImage/UnsupportedFeature, never a throw, hang or huge allocation.
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import { Qcow, diskBytes, diskWith, pattern, ramDisk, run } from './support/harness.js'

/** Bytes of a fresh image (64 KiB clusters, 1 GiB) with one data cluster written. */
const freshImage = async (): Promise<Uint8Array> => {
  const base = await ramDisk(512 * 1024)
  const device = await run(Qcow.create(base, { size: 1024 * 1024 * 1024 }))
  await run(device.write(0, [pattern(65536, 1)]))
  await run(device.disconnect())
  return diskBytes(base)
}

const setU32 = (at: number, value: number) => (b: Uint8Array) => new DataView(b.buffer).setUint32(at, value)
const setU64 = (at: number, value: bigint) => (b: Uint8Array) => new DataView(b.buffer).setBigUint64(at, value)
const setU8 = (at: number, value: number) => (b: Uint8Array) => void (b[at] = value)
const both = (...fs: Array<(b: Uint8Array) => void>) => (b: Uint8Array) => fs.forEach((f) => f(b))
/** Appends an extension at header_length (112) in place of the feature table. */
const extension = (type: number, length: number) => both(setU32(112, type), setU32(116, length))

const mutations: Array<[string, (b: Uint8Array) => void, string]> = [
  ['bad magic', setU32(0, 0x12345678), 'InvalidImage'],
  ['version 1', setU32(4, 1), 'UnsupportedFeature'],
  ['version 4', setU32(4, 4), 'UnsupportedFeature'],
  ['cluster_bits 8', setU32(20, 8), 'InvalidImage'],
  ['cluster_bits 22', setU32(20, 22), 'InvalidImage'],
  ['cluster_bits 2^32-1', setU32(20, 0xffffffff), 'InvalidImage'],
  ['header_length 100', setU32(100, 100), 'InvalidImage'],
  ['header_length 108 (not a multiple of 8)', setU32(100, 108), 'InvalidImage'],
  ['header_length past the cluster', setU32(100, 65536 + 8), 'InvalidImage'],
  ['backing file offset past cluster 0', setU64(8, 1n << 40n), 'InvalidImage'],
  ['backing file name too long', both(setU64(8, 1024n), setU32(16, 2000)), 'InvalidImage'],
  ['backing file name past the cluster', both(setU64(8, 65000n), setU32(16, 1000)), 'InvalidImage'],
  ['virtual size 2^63', setU64(24, 1n << 63n), 'InvalidImage'],
  ['virtual size larger than the L1 maps', setU64(24, 1n << 40n), 'InvalidImage'],
  ['AES encryption', setU32(32, 1), 'UnsupportedFeature'],
  ['LUKS encryption', setU32(32, 2), 'UnsupportedFeature'],
  ['l1_size 2^31', setU32(36, 0x80000000), 'InvalidImage'],
  ['l1_size 2^32-1', setU32(36, 0xffffffff), 'InvalidImage'],
  ['l1_size just above 32 MiB', setU32(36, 4 * 1024 * 1024 + 1), 'InvalidImage'],
  ['l1_size 0 for a 1 GiB disk', setU32(36, 0), 'InvalidImage'],
  ['l1_table_offset unaligned', setU64(40, 0x30200n), 'InvalidImage'],
  ['l1_table_offset past the device', setU64(40, 1n << 40n), 'InvalidImage'],
  ['l1_table_offset 2^63', setU64(40, 1n << 63n), 'InvalidImage'],
  ['l1_table_offset 0', setU64(40, 0n), 'InvalidImage'],
  ['refcount_table_offset unaligned', setU64(48, 0x10200n), 'InvalidImage'],
  ['refcount_table_offset past the device', setU64(48, 1n << 45n), 'InvalidImage'],
  ['refcount_table_offset 0', setU64(48, 0n), 'InvalidImage'],
  ['refcount_table_clusters 0', setU32(56, 0), 'InvalidImage'],
  ['refcount_table_clusters 2^31', setU32(56, 0x80000000), 'InvalidImage'],
  ['refcount table above 8 MiB', setU32(56, 129), 'InvalidImage'],
  ['2^31 snapshots', both(setU32(60, 0x80000000), setU64(64, 0x50000n)), 'InvalidImage'],
  ['65537 snapshots', both(setU32(60, 65537), setU64(64, 0x50000n)), 'InvalidImage'],
  ['snapshot table unaligned', both(setU32(60, 1), setU64(64, 0x50008n)), 'InvalidImage'],
  ['snapshot table past the device', both(setU32(60, 1), setU64(64, 1n << 40n)), 'InvalidImage'],
  ['65536 snapshots over a data cluster', both(setU32(60, 65536), setU64(64, 0x50000n)), 'InvalidImage'],
  ['unknown incompatible bit 10', setU64(72, 1n << 10n), 'UnsupportedFeature'],
  ['unknown incompatible bit 63', setU64(72, 1n << 63n), 'UnsupportedFeature'],
  ['external data file', setU64(72, 1n << 2n), 'UnsupportedFeature'],
  ['extended L2 entries', setU64(72, 1n << 4n), 'UnsupportedFeature'],
  ['compression type 2', both(setU64(72, 1n << 3n), setU8(104, 2)), 'InvalidImage'],
  ['compression type 1 without its bit', setU8(104, 1), 'InvalidImage'],
  ['compression bit without a type', setU64(72, 1n << 3n), 'InvalidImage'],
  ['refcount_order 7', setU32(96, 7), 'InvalidImage'],
  ['refcount_order 2^32-1', setU32(96, 0xffffffff), 'InvalidImage'],
  ['extension length past the cluster', extension(0x6803f857, 0xffffffff), 'InvalidImage'],
  ['unknown extension length past the cluster', extension(0x12345678, 65536), 'InvalidImage'],
  ['bitmaps extension of the wrong length', extension(0x23852875, 16), 'InvalidImage'],
  ['backing format name too long', extension(0xe2792aca, 40), 'InvalidImage'],
  ['data file name without the feature', extension(0x44415441, 8), 'InvalidImage'],
  ['encryption header extension without LUKS', extension(0x0537be77, 16), 'InvalidImage'],
]

describe('hostile headers are refused cleanly', () => {
  for (const [name, mutate, tag] of mutations) {
    it(`${name} -> ${tag}`, async () => {
      const bytes = await freshImage()
      mutate(bytes)
      const base = await diskWith(bytes)
      const started = performance.now()
      const before = process.memoryUsage().arrayBuffers
      const result = await Qcow.connect(base)()
      expect(performance.now() - started).toBeLessThan(2000)
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(128 * 1024 * 1024)
      if (process.env.SHOW_REASONS) console.log(name, JSON.stringify(E.isLeft(result) ? result.left : "opened"))
      expect(E.isLeft(result) ? result.left._tag : 'opened').toBe(tag)
    })
  }

  it('names an unknown incompatible bit from the feature-name table', async () => {
    const bytes = await freshImage()
    setU64(72, 1n << 40n)(bytes)
    // Rename the table's first entry (incompatible bit 0, "dirty bit") to describe bit 40.
    bytes[120 + 1] = 40
    bytes.set(new TextEncoder().encode('time travel\0\0\0\0\0\0'), 122)
    const result = await Qcow.connect(await diskWith(bytes))()
    expect(result).toMatchObject({ left: { _tag: 'UnsupportedFeature', feature: 'time travel' } })
  })

  it('opens a corrupt-marked image read-only only', async () => {
    const bytes = await freshImage()
    setU64(72, 1n << 1n)(bytes)
    expect(await Qcow.connect(await diskWith(bytes))()).toMatchObject({ left: { _tag: 'InvalidImage' } })
    const device = await run(Qcow.connect(await diskWith(bytes), { readOnly: true }))
    const out = new Uint8Array(65536)
    await run(device.read(0, [out]))
    expect(out).toEqual(pattern(65536, 1))
  })

  it('random damage to cluster 0 never throws or hangs', async () => {
    const image = await freshImage()
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 0, max: 1023 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }), async (edits) => {
        const bytes = image.slice()
        for (const [at, value] of edits) bytes[at] = value
        const result = await Qcow.connect(await diskWith(bytes))()
        if (E.isRight(result)) {
          const out = new Uint8Array(65536)
          await result.right.read(0, [out])()
          await result.right.disconnect()()
        }
      }),
      { numRuns: 200 },
    )
  })
})

describe('inconsistent metadata found at run time', () => {
  const l2EntryOffset = async (bytes: Uint8Array): Promise<number> => {
    const view = new DataView(bytes.buffer)
    const l1 = Number(view.getBigUint64(40))
    return Number(view.getBigUint64(l1) & 0x00fffffffffffe00n)
  }

  it('an L2 entry with reserved bits gives Corrupt and sets the corrupt bit', async () => {
    const bytes = await freshImage()
    const l2 = await l2EntryOffset(bytes)
    bytes[l2 + 7] |= 0x02
    const base = await diskWith(bytes)
    const device = await run(Qcow.connect(base))
    expect(await device.read(0, [new Uint8Array(512)])()).toMatchObject({ left: { _tag: 'Corrupt' } })
    expect(await device.write(0, [new Uint8Array(512)])()).toMatchObject({ left: { _tag: 'Corrupt' } })
    expect((await run(device.header())).corrupt).toBe(true)
    expect(await Qcow.connect(base)()).toMatchObject({ left: { _tag: 'InvalidImage' } })
  })

  it('an L2 entry past the end of the device gives Corrupt', async () => {
    const bytes = await freshImage()
    const l2 = await l2EntryOffset(bytes)
    new DataView(bytes.buffer).setBigUint64(l2, (1n << 63n) | (1n << 45n))
    const device = await run(Qcow.connect(await diskWith(bytes), { readOnly: true }))
    expect(await device.read(0, [new Uint8Array(512)])()).toMatchObject({ left: { _tag: 'Corrupt' } })
  })

  it('an unaligned L1 entry gives Corrupt', async () => {
    const bytes = await freshImage()
    const view = new DataView(bytes.buffer)
    const l1 = Number(view.getBigUint64(40))
    view.setBigUint64(l1, view.getBigUint64(l1) + 0x200n)
    const device = await run(Qcow.connect(await diskWith(bytes), { readOnly: true }))
    expect(await device.read(0, [new Uint8Array(512)])()).toMatchObject({ left: { _tag: 'Corrupt' } })
  })
})
