// Crash safety: images cut at many points of a recorded workload (unflushed writes kept or lost sector by sector)
// always open, hold no corruption (at worst leaks) and keep every flushed write.
import { expect, it } from 'vitest'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../src/block/device.js'
import { unsupported } from '../../src/block/errors.js'
import { makeQcow, type QcowError } from '../../src/qcow/index.js'
import { recorder } from '../../src/testing/index.js'
import { check, describeWithQemu, fileFromDevice, useTempDir } from '../support/qemu.js'
import { Qcow, pattern, ramDisk, run, sameBytes } from './support/harness.js'

const QcowAny = makeQcow<void, BlockDevice<QcowError>>({ name: 'Recorded', connect: () => TE.left(unsupported('connect')) })

interface Case {
  readonly clusterSize: number
  readonly refcountBits: number
  readonly lazyRefcounts: boolean
  readonly size: number
  readonly writes: number
  readonly maxSectors: number
}

const cases: Case[] = [
  { clusterSize: 512, refcountBits: 64, lazyRefcounts: false, size: 4 << 20, writes: 60, maxSectors: 256 },
  { clusterSize: 4096, refcountBits: 16, lazyRefcounts: false, size: 8 << 20, writes: 60, maxSectors: 64 },
  { clusterSize: 65536, refcountBits: 16, lazyRefcounts: true, size: 8 << 20, writes: 40, maxSectors: 300 },
]

const rng = (seed: number): (() => number) => {
  let x = seed >>> 0
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0
    return x / 2 ** 32
  }
}

describeWithQemu('crash safety', () => {
  const dir = useTempDir('qcow-crash-')
  for (const c of cases) {
    it(`${c.clusterSize}-byte clusters, ${c.refcountBits}-bit refcounts${c.lazyRefcounts ? ', lazy' : ''}`, async () => {
      const disk = recorder(await ramDisk(64 * 1024))
      const device = await run(QcowAny.create(disk, { size: c.size, clusterSize: c.clusterSize, refcountBits: c.refcountBits, lazyRefcounts: c.lazyRefcounts }))
      await run(device.flush())
      const sectors = c.size / 512
      const model = new Uint8Array(c.size)
      // For each completed flush: the cut point after it, the model then, and the sectors written since.
      const flushes: Array<{ cut: number; model: Uint8Array; touched: Uint8Array }> = [{ cut: disk.operations(), model: model.slice(), touched: new Uint8Array(sectors) }]
      const random = rng(c.clusterSize)
      for (let i = 0; i < c.writes; i++) {
        const n = 1 + Math.floor(random() * c.maxSectors)
        const sector = Math.floor(random() * (sectors - n))
        const data = pattern(n * 512, i)
        await run(device.write(sector, [data]))
        model.set(data, sector * 512)
        for (const f of flushes) f.touched.fill(1, sector, sector + n)
        if (random() < 0.15) {
          await run(device.flush())
          flushes.push({ cut: disk.operations(), model: model.slice(), touched: new Uint8Array(sectors) })
        }
      }
      const total = disk.operations()
      // Before the image exists (create plus its first flush) a cut leaves no image to open.
      const first = flushes[0].cut
      const cuts = Array.from({ length: 25 }, (_, k) => first + Math.round((k * (total - first)) / 24))
      const images = await run(disk.crashImages({ cuts, keep: 'random', seed: c.clusterSize }) as TE.TaskEither<QcowError, Iterable<{ cutAt: number; toRamDisk(): TE.TaskEither<QcowError, Awaited<ReturnType<typeof ramDisk>>> }>>)
      for (const image of images) {
        const base = await run(image.toRamDisk())
        const opened = await run(Qcow.connect(base))
        const flushed = [...flushes].reverse().find((f) => f.cut <= image.cutAt)!
        const all = new Uint8Array(c.size)
        await run(opened.read(0, [all]))
        for (let s = 0; s < sectors; s++) {
          if (flushed.touched[s] === 1) continue
          if (!sameBytes(all.subarray(s * 512, s * 512 + 512), flushed.model.subarray(s * 512, s * 512 + 512))) {
            throw new Error(`cut ${image.cutAt}: flushed sector ${s} lost`)
          }
        }
        await run(opened.disconnect())
        const path = dir.file(`cut-${c.clusterSize}-${image.cutAt}.qcow2`)
        await fileFromDevice(base, path)
        const checked = await check(path)
        expect(checked.report?.corruptions ?? 0, `cut ${image.cutAt}: ${checked.stdout}`).toBe(0)
        expect(checked.report?.['check-errors']).toBe(0)
      }
    })
  }
})
