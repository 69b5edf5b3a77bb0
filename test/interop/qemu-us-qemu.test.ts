// QEMU -> us -> QEMU: we write into qemu-made images (compressed, zero, v2, snapshotted, dirty) and qemu-img still finds them clean.
import { readFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { makeQcow } from '../../src/qcow/index.js'
import { RamDisk } from '../../src/ramdisk/index.js'
import { seededRandom } from '../../src/testing/prng.js'
import { expectBytes } from '../support/bytes.js'
import {
  check,
  convert,
  createImage,
  createSnapshot,
  describeWithQemu,
  fileFromDevice,
  info,
  qemuImg,
  qemuIo,
  qemuIoOk,
  ramDiskFromFile,
  toRawBytes,
  useTempDir,
  type ImageOptions,
} from '../support/qemu.js'
import { readBytes, retainingDisconnect, run, scatter } from './engine-support.js'

const KiB = 1024
const MiB = 1024 * KiB

/** How the qemu-made starting image is prepared. */
type Preparation = 'plain' | 'zlib' | 'zstd' | 'zeroes' | 'snapshot' | 'dirty' | 'dirty-snapshot' | 'resized' | 'bitmap'

interface RoundTripCase {
  readonly name: string
  readonly size: number
  readonly options: Omit<ImageOptions, 'size'> & { readonly clusterSize: number }
  readonly preparation: Preparation
  /** Writes we make, sector-granular, many partial-cluster ones. */
  readonly writes: number
}

const cases: ReadonlyArray<RoundTripCase> = [
  { name: 'partial writes into deflate-compressed clusters (64 KiB)', size: 4 * MiB, options: { clusterSize: 64 * KiB }, preparation: 'zlib', writes: 40 },
  { name: 'partial writes into zstd-compressed clusters (4 KiB, refcount 1)', size: 2 * MiB, options: { clusterSize: 4 * KiB, refcountBits: 1 }, preparation: 'zstd', writes: 60 },
  { name: 'partial writes into ZERO and preallocated-zero clusters (4 KiB)', size: 2 * MiB, options: { clusterSize: 4 * KiB }, preparation: 'zeroes', writes: 60 },
  { name: 'writes into a compat 0.10 image (512 B clusters)', size: 1 * MiB, options: { clusterSize: 512, compat: '0.10' }, preparation: 'plain', writes: 80 },
  { name: 'copy-on-write of clusters shared with an internal snapshot (4 KiB)', size: 2 * MiB, options: { clusterSize: 4 * KiB }, preparation: 'snapshot', writes: 60 },
  { name: 'copy-on-write with a snapshot, refcount 2 (64 KiB)', size: 4 * MiB, options: { clusterSize: 64 * KiB, refcountBits: 2 }, preparation: 'snapshot', writes: 30 },
  { name: 'a dirty lazy-refcount image (killed qemu-io) opened read-write', size: 2 * MiB, options: { clusterSize: 4 * KiB, lazyRefcounts: true }, preparation: 'dirty', writes: 40 },
  {
    name: 'a dirty image with a snapshot and compressed clusters: refcounts rebuilt on open (4 KiB)',
    size: 2 * MiB,
    options: { clusterSize: 4 * KiB, lazyRefcounts: true },
    preparation: 'dirty-snapshot',
    writes: 60,
  },
  { name: 'preallocation=metadata (preallocated zero clusters, 4 KiB)', size: 2 * MiB, options: { clusterSize: 4 * KiB, extra: ['preallocation=metadata'] }, preparation: 'plain', writes: 60 },
  { name: 'preallocation=metadata, compat 0.10 (512 B)', size: 1 * MiB, options: { clusterSize: 512, compat: '0.10', extra: ['preallocation=metadata'] }, preparation: 'plain', writes: 60 },
  { name: 'preallocation=full (64 KiB)', size: 2 * MiB, options: { clusterSize: 64 * KiB, extra: ['preallocation=full'] }, preparation: 'plain', writes: 30 },
  { name: 'grown by qemu-img resize (L1 table moved, 512 B clusters)', size: 1 * MiB, options: { clusterSize: 512 }, preparation: 'resized', writes: 80 },
  { name: 'a persistent bitmap (autoclear bit must be cleared by us)', size: 2 * MiB, options: { clusterSize: 4 * KiB }, preparation: 'bitmap', writes: 20 },
]

/** qemu-io pattern writes covering most clusters partly, so later writes meet allocated data. */
const qemuPatternCommands = (random: () => number, size: number, count: number): { text: string; offset: number; length: number; byte: number }[] =>
  Array.from({ length: count }, () => {
    const length = 1 + Math.floor(random() * 96 * KiB)
    const offset = Math.floor(random() * (size - length))
    const byte = 1 + Math.floor(random() * 255)
    return { text: `write -P 0x${byte.toString(16)} ${offset} ${length}`, offset, length, byte }
  })

/** Runs qemu-img, failing the test on a non-zero exit. */
const qemuImgOk = async (args: ReadonlyArray<string>): Promise<void> => {
  const r = await qemuImg(args)
  if (r.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: exit ${r.code}: ${r.stderr}`)
}

const Qcow = makeQcow(RamDisk)

describeWithQemu('QEMU -> us -> QEMU: our writes into qemu-made images', () => {
  const tmp = useTempDir('qcow-ts-q2u2q-')

  cases.forEach((c, index) => {
    it(c.name, async () => {
      const random = seededRandom(0xc0ffee + index)
      let model: Uint8Array = new Uint8Array(c.size)
      const made = tmp.file(`made-${index}.qcow2`)
      await createImage(made, { size: c.size, ...c.options })
      const patterns = qemuPatternCommands(random, c.size, 30)
      const zeroCommands: string[] = []
      if (c.preparation === 'zeroes') {
        // Unmapping zero writes leave ZERO clusters; plain ones over data leave preallocated zero clusters.
        for (let i = 0; i < 10; i++) {
          const first = Math.floor(random() * (c.size / c.options.clusterSize - 4))
          const clusters = 1 + Math.floor(random() * 3)
          zeroCommands.push(`write -z${i % 2 === 0 ? ' -u' : ''} ${first * c.options.clusterSize} ${clusters * c.options.clusterSize}`)
        }
      }
      const commands = [...patterns.map((p) => p.text), ...zeroCommands]
      if (c.preparation === 'dirty') {
        const killed = await qemuIo(made, [...commands, 'sigraise 9'])
        expect(killed.code).not.toBe(0)
        expect((await info(made))['dirty-flag']).toBe(true)
      } else await qemuIoOk(made, commands)
      for (const p of patterns) model.fill(p.byte, p.offset, p.offset + p.length)
      for (const z of zeroCommands) {
        const [offset, length] = z.split(' ').slice(-2).map(Number) as [number, number]
        model.fill(0, offset, offset + length)
      }

      let image = made
      if (c.preparation === 'zlib' || c.preparation === 'zstd') {
        image = tmp.file(`made-${index}-compressed.qcow2`)
        await convert(made, image, { compress: true, target: { ...c.options, compressionType: c.preparation } })
      }
      if (c.preparation === 'snapshot' || c.preparation === 'dirty-snapshot') await createSnapshot(image, 'before')
      let snapshotModel: Uint8Array = model.slice()
      if (c.preparation === 'dirty-snapshot') {
        // Shared, compressed and fresh clusters, then a kill that leaves the refcounts stale.
        const cluster = c.options.clusterSize
        const killed = await qemuIo(image, [
          `write -P 0x22 ${cluster * 3 + 100} ${cluster * 5}`,
          `write -c -P 0x33 ${cluster * 300} ${cluster * 4}`,
          'flush',
          `write -P 0x44 ${cluster * 400 + 7} ${cluster * 9}`,
          'sigraise 9',
        ])
        expect(killed.code).not.toBe(0)
        expect((await info(image))['dirty-flag']).toBe(true)
        // What survived the kill is whatever QEMU reads now (the last write may or may not have).
        model = await toRawBytes(image)
        snapshotModel = await toRawBytes(image, 'qcow2', 'before')
      }
      if (c.preparation === 'bitmap') await qemuImgOk(['bitmap', '--add', image, 'b0'])
      let size = c.size
      if (c.preparation === 'resized') {
        size = 16 * c.size
        await qemuImgOk(['resize', '-f', 'qcow2', image, String(size)])
        const tail = { offset: size - 70 * KiB, length: 50 * KiB, byte: 0x5e }
        await qemuIoOk(image, [`write -P 0x5e ${tail.offset} ${tail.length}`])
        const grown = new Uint8Array(size)
        grown.set(model)
        grown.fill(tail.byte, tail.offset, tail.offset + tail.length)
        model = grown
      }
      if (c.preparation !== 'dirty-snapshot') snapshotModel = model.slice()
      expectBytes(await toRawBytes(image), model, 'qemu-made image vs model')

      const ram = await ramDiskFromFile(image)
      const device = await run(Qcow.connect(retainingDisconnect(ram)), 'connect read-write')
      const clusterSectors = c.options.clusterSize / 512
      const sizeSectors = size / 512
      for (let i = 0; i < c.writes; i++) {
        // Mostly sub-cluster writes at any sector, some spanning a few clusters.
        const sectors = 1 + Math.floor(random() * (i % 4 === 0 ? 3 * clusterSectors : Math.max(1, clusterSectors / 2)))
        const sector = Math.floor(random() * (sizeSectors - Math.min(sectors, sizeSectors) + 1))
        const length = Math.min(sectors, sizeSectors - sector)
        const bytes = new Uint8Array(length * 512).fill(1 + (i % 254))
        for (let b = 0; b < bytes.length; b += 509) bytes[b] = i & 255
        await run(device.write(sector, scatter(bytes, random)), `write of ${length} sectors at sector ${sector}`)
        model.set(bytes, sector * 512)
      }
      expectBytes(await readBytes(device, size), model, 'our reads after our writes')
      await run(device.disconnect(), 'disconnect')

      const written = tmp.file(`written-${index}.qcow2`)
      await fileFromDevice(ram, written)
      const result = await check(written)
      const summary = `exit ${result.code}, ${JSON.stringify(result.report)} ${result.stderr.trim()}`
      expect(result.report?.corruptions ?? 0, summary).toBe(0)
      if (c.preparation === 'bitmap') {
        // We do not maintain bitmaps, so a read-write open must clear autoclear bit 0; QEMU then
        // ignores the bitmap directory and counts its clusters as leaks, as it says itself.
        const header = new Uint8Array(await readFile(written)).subarray(88, 96)
        expect(header[7]! & 1).toBe(0)
        expect([0, 3]).toContain(result.code)
      } else {
        expect(result.code, summary).toBe(0)
        expect(result.report?.leaks ?? 0, summary).toBe(0)
      }
      expect((await info(written))['dirty-flag']).toBe(false)
      expectBytes(await toRawBytes(written), model, 'qemu-img convert of our written image vs model')
      if (c.preparation === 'snapshot' || c.preparation === 'dirty-snapshot') expectBytes(await toRawBytes(written, 'qcow2', 'before'), snapshotModel, 'snapshot contents after our writes')
    })
  })
})
