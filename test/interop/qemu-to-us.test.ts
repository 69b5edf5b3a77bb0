// QEMU -> us: images made and filled by qemu-img/qemu-io read through makeQcow(RamDisk), byte for byte against qemu-img convert -O raw.
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { expect, it } from 'vitest'
import { makeQcow } from '../../src/qcow/index.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { seededRandom } from '../../src/testing/prng.js'
import { expectBytes } from '../support/bytes.js'
import { guestClusters, maximiseCompressedSize } from '../support/qcow-layout.js'
import {
  convert,
  createImage,
  describeWithQemu,
  info,
  qcow2Specific,
  qemuIoOk,
  ramDiskFromBytes,
  ramDiskFromFile,
  toRawBytes,
  useTempDir,
  writeBytes,
  type ImageOptions,
} from '../support/qemu.js'
import { readBytes, run, scatter } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB

/** One image of the matrix: how qemu-img creates it and how qemu-io fills it. */
interface QemuCase {
  readonly name: string
  readonly size: number
  readonly options: Omit<ImageOptions, 'size'> & { readonly clusterSize: number }
  /** Random pattern writes (unaligned, some crossing clusters). */
  readonly writes: number
  /** Also `write -z` (and `write -z -u`) over written and unwritten ranges. */
  readonly zeroes?: boolean
  /** Re-encode with `qemu-img convert -c` using this compression type. */
  readonly compress?: 'zlib' | 'zstd'
  /** Pattern writes applied by qemu-io after compression (partial overwrites of compressed clusters). */
  readonly writesAfterCompress?: number
}

const cases: ReadonlyArray<QemuCase> = [
  { name: '512 B clusters, refcount 16, v3, zero writes', size: 4 * MiB, options: { clusterSize: 512, refcountBits: 16 }, writes: 60, zeroes: true },
  { name: '512 B clusters, refcount 1', size: 4 * MiB, options: { clusterSize: 512, refcountBits: 1 }, writes: 40 },
  { name: '512 B clusters, refcount 64', size: 4 * MiB, options: { clusterSize: 512, refcountBits: 64 }, writes: 40 },
  { name: '512 B clusters, compat 0.10', size: 4 * MiB, options: { clusterSize: 512, compat: '0.10' }, writes: 40, zeroes: true },
  { name: '4 KiB clusters, refcount 1, zero writes', size: 16 * MiB, options: { clusterSize: 4 * KiB, refcountBits: 1 }, writes: 50, zeroes: true },
  { name: '4 KiB clusters, refcount 64, lazy refcounts', size: 16 * MiB, options: { clusterSize: 4 * KiB, refcountBits: 64, lazyRefcounts: true }, writes: 50 },
  { name: '4 KiB clusters, compat 0.10', size: 16 * MiB, options: { clusterSize: 4 * KiB, compat: '0.10' }, writes: 40 },
  { name: '64 KiB clusters, refcount 16, zero writes', size: 32 * MiB, options: { clusterSize: 64 * KiB }, writes: 40, zeroes: true },
  { name: '64 KiB clusters, refcount 64, lazy refcounts', size: 32 * MiB, options: { clusterSize: 64 * KiB, refcountBits: 64, lazyRefcounts: true }, writes: 30 },
  { name: '64 KiB clusters, refcount 1, compat 1.1', size: 32 * MiB, options: { clusterSize: 64 * KiB, refcountBits: 1, compat: '1.1' }, writes: 30 },
  { name: '64 KiB clusters, compat 0.10, zero writes', size: 32 * MiB, options: { clusterSize: 64 * KiB, compat: '0.10' }, writes: 30, zeroes: true },
  { name: '2 MiB clusters, refcount 16', size: 16 * MiB, options: { clusterSize: 2 * MiB }, writes: 5, zeroes: true },
  { name: '2 MiB clusters, compat 0.10', size: 16 * MiB, options: { clusterSize: 2 * MiB, compat: '0.10' }, writes: 4 },
  { name: 'deflate-compressed, 64 KiB clusters', size: 8 * MiB, options: { clusterSize: 64 * KiB }, writes: 40, compress: 'zlib' },
  { name: 'deflate-compressed, 512 B clusters', size: 2 * MiB, options: { clusterSize: 512 }, writes: 40, compress: 'zlib' },
  { name: 'deflate-compressed then partly overwritten, 4 KiB clusters', size: 4 * MiB, options: { clusterSize: 4 * KiB }, writes: 40, compress: 'zlib', writesAfterCompress: 15 },
  { name: 'zstd-compressed, 64 KiB clusters', size: 8 * MiB, options: { clusterSize: 64 * KiB }, writes: 40, compress: 'zstd' },
  { name: 'zstd-compressed, 4 KiB clusters, refcount 1', size: 4 * MiB, options: { clusterSize: 4 * KiB, refcountBits: 1 }, writes: 40, compress: 'zstd', writesAfterCompress: 10 },
  { name: 'zstd-compressed, 2 MiB clusters', size: 8 * MiB, options: { clusterSize: 2 * MiB }, writes: 4, compress: 'zstd' },
  { name: '64 KiB clusters, size not a multiple of the cluster size', size: 5 * MiB + 1536, options: { clusterSize: 64 * KiB }, writes: 30, zeroes: true },
  { name: '2 MiB clusters, compressed, size not a multiple of the cluster size', size: 3 * MiB + 512, options: { clusterSize: 2 * MiB }, writes: 3, compress: 'zlib' },
  { name: 'an empty (0-byte) disk', size: 0, options: { clusterSize: 64 * KiB }, writes: 0 },
]

/** A qemu-io command and its effect on the model. */
interface Command {
  readonly text: string
  apply(model: Uint8Array): void
}

const patternWrite = (offset: number, length: number, byte: number): Command => ({
  text: `write -P 0x${byte.toString(16)} ${offset} ${length}`,
  apply: (model) => model.fill(byte, offset, offset + length),
})

const zeroWrite = (offset: number, length: number, unmap: boolean): Command => ({
  text: `write -z${unmap ? ' -u' : ''} ${offset} ${length}`,
  apply: (model) => model.fill(0, offset, offset + length),
})

/** `count` pattern writes at random byte offsets; every third one straddles a cluster boundary. */
const randomWrites = (random: () => number, size: number, clusterSize: number, count: number): Command[] =>
  Array.from({ length: count }, (_, i) => {
    const byte = 1 + Math.floor(random() * 255)
    const length = 1 + Math.floor(random() * Math.min(3 * clusterSize, 3 * MiB))
    if (i % 3 === 0 && size > 2 * clusterSize) {
      const boundary = clusterSize * (1 + Math.floor(random() * (size / clusterSize - 1)))
      const before = 1 + Math.floor(random() * Math.min(length, boundary))
      const offset = boundary - before
      return patternWrite(offset, Math.min(length, size - offset), byte)
    }
    const offset = Math.floor(random() * (size - length))
    return patternWrite(offset, length, byte)
  })

/** Zero writes: unaligned ones, and cluster-aligned unmapping ones (which leave ZERO clusters on v3). */
const randomZeroWrites = (random: () => number, size: number, clusterSize: number, count: number): Command[] =>
  Array.from({ length: count }, (_, i) => {
    if (i % 2 === 0) {
      const clusters = 1 + Math.floor(random() * 3)
      const first = Math.floor(random() * (size / clusterSize - clusters))
      return zeroWrite(first * clusterSize, clusters * clusterSize, true)
    }
    const length = 1 + Math.floor(random() * 2 * clusterSize)
    return zeroWrite(Math.floor(random() * (size - length)), length, false)
  })

const Qcow = makeQcow(RamDisk)

describeWithQemu('QEMU -> us: qemu-made images read through makeQcow(RamDisk)', () => {
  const tmp = useTempDir('qcow-ts-q2u-')

  cases.forEach((c, index) => {
    it(c.name, async () => {
      const random = seededRandom(0x9e3779b9 + index)
      const model = new Uint8Array(c.size)
      const base = tmp.file(`case-${index}.qcow2`)
      await createImage(base, { size: c.size, ...c.options })
      const commands = randomWrites(random, c.size, c.options.clusterSize, c.writes)
      // The last bytes of the disk, across its last cluster boundary when there is one.
      if (c.size >= 3000) commands.push(patternWrite(c.size - 3000, 3000, 0xee))
      if (c.zeroes === true) {
        // Zero writes come between pattern writes, so they hit both allocated and unallocated clusters.
        commands.splice(Math.floor(commands.length / 2), 0, ...randomZeroWrites(random, c.size, c.options.clusterSize, 8))
        commands.push(...randomZeroWrites(random, c.size, c.options.clusterSize, 4))
      }
      if (commands.length > 0) await qemuIoOk(base, commands.map((command) => command.text))
      commands.forEach((command) => command.apply(model))

      let image = base
      if (c.compress !== undefined) {
        image = tmp.file(`case-${index}-compressed.qcow2`)
        await convert(base, image, { compress: true, target: { ...c.options, compressionType: c.compress } })
        const later = randomWrites(random, c.size, c.options.clusterSize, c.writesAfterCompress ?? 0)
        if (later.length > 0) await qemuIoOk(image, later.map((command) => command.text))
        later.forEach((command) => command.apply(model))
      }

      const raw = await toRawBytes(image)
      expectBytes(raw, model, 'qemu-img convert -O raw vs the model of the qemu-io commands')
      const qemuInfo = await info(image)
      const specific = qcow2Specific(qemuInfo)

      // Read-write open (every other case with one-cluster caches): the whole disk, in 1 MiB requests.
      const caches = index % 2 === 1 ? { l2CacheBytes: c.options.clusterSize, refcountCacheBytes: c.options.clusterSize } : {}
      const device = await run(Qcow.connect(await ramDiskFromFile(image), caches), 'connect')
      const geometry = await run(device.getInfo(), 'getInfo')
      expect(geometry.sectorSize).toBe(512)
      expect(geometry.sizeSectors * 512).toBe(qemuInfo['virtual-size'])
      const header = await run(device.header(), 'header')
      expect(header.clusterSize).toBe(qemuInfo['cluster-size'])
      expect(header.version).toBe(specific.compat === '0.10' ? 2 : 3)
      expect(header.refcountBits).toBe(specific['refcount-bits'])
      expect(header.lazyRefcounts).toBe(specific['lazy-refcounts'] ?? false)
      expect(header.compressionType).toBe(specific['compression-type'] === 'zstd' ? 1 : 0)
      expectBytes(await readBytes(device, c.size), raw, 'our read of the image vs qemu-img convert -O raw')
      await run(device.disconnect(), 'disconnect')

      // Read-only open: random requests with scattered buffers.
      const readOnly = await run(Qcow.connect(await ramDiskFromFile(image), { readOnly: true }), 'connect read-only')
      const sizeSectors = c.size / 512
      for (let i = 0; i < (sizeSectors === 0 ? 0 : 25); i++) {
        const sectors = 1 + Math.floor(random() * Math.min(sizeSectors, (3 * c.options.clusterSize) / 512, 4096))
        const sector = Math.floor(random() * (sizeSectors - sectors + 1))
        const target = new Uint8Array(sectors * 512)
        await run(readOnly.read(sector, scatter(target, random)), `scattered read at sector ${sector}`)
        expectBytes(target, raw.subarray(sector * 512, (sector + sectors) * 512), `scattered read of ${sectors} sectors at sector ${sector}`)
      }
      if (sizeSectors > 0) {
        const refused = await readOnly.write(0, [new Uint8Array(512)])()
        expect(E.isLeft(refused) && refused.left._tag).toBe('ReadOnly')
      }
      await run(readOnly.disconnect(), 'disconnect read-only')
    })
  })
})

describeWithQemu('QEMU -> us: compressed size fields larger than needed (as in iotest 214)', () => {
  const tmp = useTempDir('qcow-ts-q2u-214-')

  for (const compressionType of ['zlib', 'zstd'] as const) {
    it(`${compressionType}: every compressed descriptor claims the most sectors it can, past the end of the file`, async () => {
      const size = 1 * MiB
      const plain = tmp.file(`plain-${compressionType}.qcow2`)
      await createImage(plain, { size, clusterSize: 64 * KiB })
      await qemuIoOk(plain, ['write -P 0x61 0 200k', 'write -P 0x62 300k 100k', 'write -P 0x63 1000k 24k'])
      const image = tmp.file(`oversized-${compressionType}.qcow2`)
      await convert(plain, image, { compress: true, target: { clusterSize: 64 * KiB, compressionType } })
      const bytes = new Uint8Array(await readFile(image))
      const compressed = guestClusters(bytes).filter((c) => c.kind === 'compressed')
      expect(compressed.length).toBeGreaterThan(3)
      for (const c of compressed) if (c.kind === 'compressed') maximiseCompressedSize(bytes, c.entryAt)
      await writeBytes(image, bytes)
      const raw = await toRawBytes(image)
      expectBytes(raw, await toRawBytes(plain), 'QEMU reads the oversized descriptors')
      const device = await run(Qcow.connect(await ramDiskFromBytes(bytes), { readOnly: true }), 'connect')
      expectBytes(await readBytes(device, size), raw, 'our read of oversized descriptors')
      await run(device.disconnect(), 'disconnect')
    })
  }
})
