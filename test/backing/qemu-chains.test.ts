// QEMU -> us: chains made by `qemu-img create -b -F` read through our engine exactly like `qemu-img convert -O raw`, map like `qemu-img map`, and seek consistently with that map.
import { mkdir } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { confineTo } from '../../src/file/backing-gates.js'
import { FileBlock } from '../../src/file/index.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../src/block/device.js'
import type { QcowError } from '../../src/qcow/index.js'
import { describeWithQemu, map, qemuIoOk, toRawBytes, useTempDir, writeBytes, type QemuMapEntry } from '../support/qemu.js'
import { QcowFile, expectSeeksFollowMap, firstDifference, ok, qemuImgOk, readAll, spyGate } from './support.js'

const KiB = 1024
const MiB = 1024 * KiB

interface Layer {
  /** File name inside the test directory. */
  readonly name: string
  readonly size: number
  /** qcow2 cluster size; undefined for a raw file. */
  readonly clusterSize?: number
  /** qemu-io commands run on the layer once it exists. */
  readonly io: ReadonlyArray<string>
}

interface Case {
  readonly title: string
  /** Bottom first. */
  readonly layers: ReadonlyArray<Layer>
}

const writes = (seed: number, size: number): string[] => {
  const out: string[] = []
  let x = seed
  for (let i = 0; i < 12; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    const length = 512 * (1 + (x % 300))
    const offset = 512 * (x % Math.floor((size - length) / 512))
    out.push(`write -P 0x${((seed * 16 + i) & 0xff).toString(16)} ${offset} ${length}`)
  }
  return out
}

const cases: Case[] = [
  {
    title: 'qcow2 over qcow2 over raw, each layer longer than the one below, different cluster sizes',
    layers: [
      { name: 'base.raw', size: 3 * MiB, io: writes(1, 3 * MiB) },
      { name: 'mid.qcow2', size: 5 * MiB, clusterSize: 4 * KiB, io: [...writes(2, 5 * MiB), 'write -z 100k 200k', 'discard 1m 64k'] },
      { name: 'top.qcow2', size: 6 * MiB, clusterSize: 64 * KiB, io: [...writes(3, 6 * MiB), 'write -z 2m 128k', 'write -P 0x77 2900k 3k'] },
    ],
  },
  {
    title: 'backing longer than the overlay, 512-byte and 2 MiB clusters',
    layers: [
      { name: 'base.qcow2', size: 8 * MiB, clusterSize: 2 * MiB, io: writes(4, 8 * MiB) },
      { name: 'top.qcow2', size: 3 * MiB, clusterSize: 512, io: [...writes(5, 3 * MiB), 'write -z 7k 5k'] },
    ],
  },
  {
    title: 'three qcow2 layers, the middle one shorter, ZERO clusters and discards over data below',
    layers: [
      { name: 'base.qcow2', size: 4 * MiB, clusterSize: 64 * KiB, io: ['write -P 0x21 0 1m', 'write -P 0x22 3m 512k'] },
      { name: 'mid.qcow2', size: 2 * MiB, clusterSize: 16 * KiB, io: ['write -z 64k 128k', 'discard 512k 256k', 'write -P 0x23 1600k 100k'] },
      { name: 'top.qcow2', size: 4 * MiB, clusterSize: 32 * KiB, io: ['write -z 0 32k', 'discard 640k 64k', 'write -P 0x24 3200k 40k', 'write -z 2m 256k'] },
    ],
  },
  {
    title: 'raw backing shorter than the overlay, partial-cluster writes',
    layers: [
      { name: 'disk.img', size: MiB + 512, io: writes(6, MiB) },
      { name: 'top.qcow2', size: 4 * MiB, clusterSize: 64 * KiB, io: ['write -P 0x5a 1000k 4k', 'write -P 0x11 1023k 1k', 'write -P 0x12 3m 512'] },
    ],
  },
]

/** `device` with seekMapped/seekUnmapped answering from `qemu-img map` of its file (data extents mapped, holes not). */
const withSeeks = (device: BlockDevice<QcowError>, extents: ReadonlyArray<QemuMapEntry>): BlockDevice<QcowError> => {
  const seek =
    (mapped: boolean) =>
    (from: number): TE.TaskEither<QcowError, number> => {
      const at = from * 512
      const found = extents.find((e) => e.data === mapped && e.start + e.length > at)
      const end = extents.reduce((n, e) => Math.max(n, e.start + e.length), 0)
      return TE.right(Math.ceil((found === undefined ? end : Math.max(at, found.start)) / 512))
    }
  return {
    getInfo: () => device.getInfo(),
    read: (s, b) => device.read(s, b),
    write: (s, b) => device.write(s, b),
    flush: () => device.flush(),
    disconnect: () => TE.right(undefined),
    seekMapped: seek(true),
    seekUnmapped: seek(false),
  }
}

describeWithQemu('chains made by qemu-img read like qemu-img convert -O raw', () => {
  const dir = useTempDir('qcow-ts-chain-')
  for (const c of cases) {
    it(c.title, async () => {
      const sub = dir.file(c.title.replace(/[^a-z0-9]+/gi, '-'))
      await mkdir(sub)
      let below: Layer | undefined
      for (const layer of c.layers) {
        const path = `${sub}/${layer.name}`
        if (layer.clusterSize === undefined) {
          await writeBytes(path, new Uint8Array(layer.size))
          if (layer.io.length > 0) await qemuIoOk(path, layer.io, { format: 'raw' })
        } else {
          const backing = below === undefined ? [] : ['-b', below.name, '-F', below.clusterSize === undefined ? 'raw' : 'qcow2']
          await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', `cluster_size=${layer.clusterSize}`, ...backing, path, String(layer.size)])
          if (layer.io.length > 0) await qemuIoOk(path, layer.io)
        }
        below = layer
      }
      const top = c.layers[c.layers.length - 1]
      const expected = await toRawBytes(`${sub}/${top.name}`)
      const { gate, log } = spyGate(confineTo(sub))
      const file = await ok(FileBlock.connect({ path: `${sub}/${top.name}`, readOnly: true }))
      const device = await ok(QcowFile.connect(file, { gate }))
      const actual = await readAll(device)
      expect(actual.byteLength).toBe(expected.byteLength)
      expect(firstDifference(actual, expected)).toBe(-1)
      expect(log.admitted).toEqual(c.layers.slice(0, -1).map((l) => l.name).reverse())
      const theirs = (await map(`${sub}/${top.name}`)).map((e) => ({ ...e, present: e.present ?? false }))
      const ours = await ok(device.map())
      expect(ours).toEqual(theirs)
      const rawDepths = new Set(c.layers.flatMap((l, i) => (l.clusterSize === undefined ? [c.layers.length - 1 - i] : [])))
      await expectSeeksFollowMap(device, ours, actual, rawDepths)
      await ok(device.disconnect())
      expect(log.closed.length).toBe(log.opened.length)
      await ok(file.disconnect())
    })
  }

  it('a sparse raw base maps its holes as qemu-img does, through a device whose seeks know them', async () => {
    const sub = dir.file('sparse-raw')
    await mkdir(sub)
    await qemuImgOk(['create', '-q', '-f', 'raw', `${sub}/base.raw`, String(4 * MiB)])
    await qemuIoOk(`${sub}/base.raw`, ['write -P 0x31 0 192k', 'write -P 0x32 1m 64k', 'write -P 0x33 3m 1m'], { format: 'raw' })
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=16384', '-b', 'base.raw', '-F', 'raw', `${sub}/mid.qcow2`, String(3 * MiB)])
    await qemuIoOk(`${sub}/mid.qcow2`, ['write -z 64k 32k', 'write -P 0x34 2m 48k', 'discard 1m 16k'])
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', `${sub}/top.qcow2`, String(5 * MiB)])
    await qemuIoOk(`${sub}/top.qcow2`, ['write -P 0x35 128k 64k', 'write -z 2m 64k'])
    const holes = await map(`${sub}/base.raw`, 'raw')
    expect(holes.some((e) => !e.data)).toBe(true)
    const rawFile = await ok(FileBlock.connect({ path: `${sub}/base.raw`, readOnly: true }))
    const raw = withSeeks(rawFile, holes)
    const midFile = await ok(FileBlock.connect({ path: `${sub}/mid.qcow2`, readOnly: true }))
    const mid = await ok(QcowFile.connect(midFile, { backing: raw }))
    const topFile = await ok(FileBlock.connect({ path: `${sub}/top.qcow2`, readOnly: true }))
    const top = await ok(QcowFile.connect(topFile, { backing: mid }))
    const ours = await ok(top.map())
    expect(ours).toEqual((await map(`${sub}/top.qcow2`)).map((e) => ({ ...e, present: e.present ?? false })))
    await expectSeeksFollowMap(top, ours, await toRawBytes(`${sub}/top.qcow2`), new Set([2]))
    for (const d of [top, topFile, mid, midFile, rawFile]) await ok(d.disconnect())
  })
})

