// Us -> QEMU sanity checks: images written by the engine pass `qemu-img check` and compare equal to the model.
import { writeFile } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { check, compare, describeWithQemu, fileFromDevice, useTempDir } from '../support/qemu.js'
import { Qcow, pattern, ramDisk, run } from './support/harness.js'

interface Case {
  readonly clusterSize: number
  readonly refcountBits: number
  readonly compat?: '0.10' | '1.1'
  readonly lazyRefcounts?: boolean
  readonly size: number
  /** Bytes written in total, spread over random offsets. */
  readonly volume: number
}

const cases: Case[] = [
  { clusterSize: 512, refcountBits: 64, size: 8 * 1024 * 1024, volume: 5 * 1024 * 1024 },
  { clusterSize: 512, refcountBits: 1, size: 4 * 1024 * 1024, volume: 2 * 1024 * 1024 },
  { clusterSize: 4096, refcountBits: 16, size: 16 * 1024 * 1024, volume: 4 * 1024 * 1024, compat: '0.10' },
  { clusterSize: 65536, refcountBits: 16, size: 64 * 1024 * 1024, volume: 16 * 1024 * 1024, lazyRefcounts: true },
  { clusterSize: 2 * 1024 * 1024, refcountBits: 64, size: 32 * 1024 * 1024, volume: 12 * 1024 * 1024 },
]

/** A small deterministic PRNG so failures reproduce. */
const rng = (seed: number): (() => number) => {
  let x = seed >>> 0
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0
    return x / 2 ** 32
  }
}

describeWithQemu('images written by the engine satisfy qemu-img', () => {
  const dir = useTempDir('qcow-engine-')
  for (const c of cases) {
    const name = `${c.clusterSize}-byte clusters, ${c.refcountBits}-bit refcounts${c.compat === '0.10' ? ', v2' : ''}${c.lazyRefcounts === true ? ', lazy' : ''}`
    it(name, async () => {
      const base = await ramDisk(512 * 1024)
      const device = await run(Qcow.create(base, { size: c.size, clusterSize: c.clusterSize, refcountBits: c.refcountBits, compat: c.compat ?? '1.1', lazyRefcounts: c.lazyRefcounts ?? false }))
      const model = new Uint8Array(c.size)
      const random = rng(c.clusterSize + c.refcountBits)
      let written = 0
      while (written < c.volume) {
        const sectors = 1 + Math.floor(random() * (Math.min(c.clusterSize * 3, 256 * 1024) / 512))
        const sector = Math.floor(random() * (c.size / 512 - sectors))
        const data = pattern(sectors * 512, written)
        await run(device.write(sector, [data]))
        model.set(data, sector * 512)
        written += data.byteLength
        if (random() < 0.05) await run(device.flush())
      }
      const header = await run(device.header())
      await run(device.disconnect())
      // The smallest clusters with the widest refcounts outgrow the first refcount table cluster.
      if (c.clusterSize === 512 && c.refcountBits === 64) expect(header.refcountTableClusters).toBeGreaterThan(1)
      const image = dir.file(`${name}.qcow2`)
      const raw = dir.file(`${name}.raw`)
      await fileFromDevice(base, image)
      await writeFile(raw, model)
      const checked = await check(image)
      expect(checked.code).toBe(0)
      expect(checked.report).toMatchObject({ 'check-errors': 0 })
      expect(checked.report?.corruptions ?? 0).toBe(0)
      expect(checked.report?.leaks ?? 0).toBe(0)
      const compared = await compare(image, raw, { formatB: 'raw' })
      expect(compared.stdout).toContain('Images are identical')
      expect(compared.code).toBe(0)
    })
  }
})
