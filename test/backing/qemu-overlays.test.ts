// Us -> QEMU: overlays we create over qemu-img images, write (partial clusters, copy-on-write), discard and zero pass check, compare and map; seeks follow that map.
import { mkdir } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { confineTo } from '../../src/file/backing-gates.js'
import { FileBlock } from '../../src/file/index.js'
import { check, compare, describeWithQemu, info, map, qemuIoOk, toRawBytes, useTempDir, writeBytes } from '../support/qemu.js'
import { pattern } from '../qcow/support/harness.js'
import { QcowFile, expectSeeksFollowMap, ok, qemuImgOk } from './support.js'

const KiB = 1024
const MiB = 1024 * KiB

interface Case {
  readonly title: string
  readonly backing: { readonly name: string; readonly format: 'raw' | 'qcow2'; readonly size: number }
  /** Overlay size; undefined: the backing's. */
  readonly size?: number
  readonly clusterSize: number
  readonly compat?: '0.10' | '1.1'
}

const cases: Case[] = [
  { title: 'over qcow2, size from the backing, 4 KiB clusters', backing: { name: 'base.qcow2', format: 'qcow2', size: 4 * MiB }, clusterSize: 4 * KiB },
  { title: 'over raw, larger than the backing, 64 KiB clusters', backing: { name: 'disk.img', format: 'raw', size: 2 * MiB }, size: 5 * MiB, clusterSize: 64 * KiB },
  { title: 'v2 overlay over qcow2, smaller than the backing, 512-byte clusters', backing: { name: 'b.qcow2', format: 'qcow2', size: 3 * MiB }, size: 2 * MiB, clusterSize: 512, compat: '0.10' },
]

describeWithQemu('overlays we create pass qemu-img check and compare', () => {
  const dir = useTempDir('qcow-ts-overlay-')
  cases.forEach((c, index) => {
    it(c.title, async () => {
      const sub = dir.file(`case${index}`)
      await mkdir(sub)
      const backingPath = `${sub}/${c.backing.name}`
      if (c.backing.format === 'raw') await writeBytes(backingPath, pattern(c.backing.size, index + 1))
      else {
        await qemuImgOk(['create', '-q', '-f', 'qcow2', backingPath, String(c.backing.size)])
        await qemuIoOk(backingPath, ['write -P 0x31 0 300k', 'write -P 0x32 1m 700k', `write -P 0x33 ${c.backing.size - 64 * KiB} 64k`])
      }
      const size = c.size ?? c.backing.size
      const model = new Uint8Array(size)
      model.set((await toRawBytes(backingPath, c.backing.format)).subarray(0, Math.min(size, c.backing.size)))

      const file = await ok(FileBlock.connect({ path: `${sub}/top.qcow2`, create: true }))
      const device = await ok(
        QcowFile.create(file, {
          backingFile: c.backing.name,
          backingFormat: c.backing.format,
          gate: confineTo(sub),
          clusterSize: c.clusterSize,
          ...(c.size === undefined ? {} : { size: c.size }),
          ...(c.compat === undefined ? {} : { compat: c.compat }),
        }),
      )
      let x = index + 7
      for (let i = 0; i < 40; i++) {
        x = (x * 1103515245 + 12345) >>> 0
        const sectors = 1 + (x % Math.min(64, (3 * c.clusterSize) / 512))
        const sector = (x >>> 7) % (size / 512 - sectors)
        const data = pattern(sectors * 512, i + 100)
        await ok(device.write(sector, [data]))
        model.set(data, sector * 512)
      }
      // Discards and zero writes must not let the backing show through.
      const cs = c.clusterSize / 512
      const zeroed: ReadonlyArray<readonly [number, number, 'discard' | 'zero']> = [
        [2 * cs, 2 * cs, 'discard'],
        [5 * cs + 1, cs, 'discard'],
        [9 * cs, 3 * cs, 'zero'],
      ]
      for (const [sector, sectors, how] of zeroed) {
        await ok(how === 'discard' ? device.discard(sector, sectors) : device.writeZeroes(sector, sectors))
        model.fill(0, sector * 512, (sector + sectors) * 512)
      }
      await ok(device.disconnect())
      await ok(file.disconnect())

      const topPath = `${sub}/top.qcow2`
      const report = await check(topPath)
      expect(report.code, report.stdout + report.stderr).toBe(0)
      expect(report.report?.corruptions ?? 0).toBe(0)
      expect(report.report?.leaks ?? 0).toBe(0)
      const modelPath = `${sub}/model.raw`
      await writeBytes(modelPath, model)
      const compared = await compare(topPath, modelPath, { formatB: 'raw' })
      expect(compared.code, compared.stdout + compared.stderr).toBe(0)
      const described = await info(topPath)
      expect(described['virtual-size']).toBe(size)
      expect(described['backing-filename']).toBe(c.backing.name)
      expect(described['backing-filename-format']).toBe(c.backing.format)
      const reopenedFile = await ok(FileBlock.connect({ path: topPath, readOnly: true }))
      const reopened = await ok(QcowFile.connect(reopenedFile, { gate: confineTo(sub) }))
      const ours = await ok(reopened.map())
      await expectSeeksFollowMap(reopened, ours, model, new Set(c.backing.format === 'raw' ? [1] : []))
      await ok(reopened.disconnect())
      await ok(reopenedFile.disconnect())
      expect(ours).toEqual((await map(topPath)).map((e) => ({ ...e, present: e.present ?? false })))
      if (c.compat !== '0.10') {
        const at = (sector: number) => ours.find((e) => e.start <= sector * 512 && sector * 512 < e.start + e.length)
        for (const [sector, sectors] of zeroed) if (sector % cs === 0 && sectors % cs === 0) expect(at(sector)).toMatchObject({ depth: 0, present: true, zero: true })
      }
    })
  })
})
