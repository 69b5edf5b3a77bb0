// seekMapped, seekUnmapped and map compared with `qemu-img map --output=json`, on images written by qemu-io and by us.
import { describe, expect, it } from 'vitest'
import type { MapExtent, QcowDevice } from '../../../src/qcow/index.js'
import { describeWithQemu, useTempDir } from '../../support/qemu.js'
import { Qcow, pattern, ramDisk, run } from '../support/harness.js'
import { expectMapLikeQemu, openFile, qemuImage, saveTo } from './support.js'

const K = 1024
const M = 1024 * K

/** What seekMapped/seekUnmapped must answer at `sector`, derived from a map. */
const expectedSeek = (extents: ReadonlyArray<MapExtent>, sector: number, mapped: boolean, sizeSectors: number): number => {
  for (const e of extents) {
    const end = (e.start + e.length) / 512
    if (end <= sector || e.present !== mapped) continue
    return Math.max(sector, e.start / 512)
  }
  return sizeSectors
}

/** Checks both seeks at every extent boundary and a few sectors inside extents. */
const expectSeeksFollow = async (device: QcowDevice, extents: ReadonlyArray<MapExtent>): Promise<void> => {
  const sizeSectors = (await run(device.getInfo())).sizeSectors
  const probes = new Set<number>([0, sizeSectors])
  for (const e of extents) {
    probes.add(e.start / 512)
    probes.add((e.start + e.length / 2) / 512 - (((e.start + e.length / 2) / 512) % 1))
    probes.add((e.start + e.length) / 512 - 1)
  }
  for (const s of probes) {
    if (s < 0 || s > sizeSectors) continue
    expect([s, await run(device.seekMapped(s))]).toEqual([s, expectedSeek(extents, s, true, sizeSectors)])
    expect([s, await run(device.seekUnmapped(s))]).toEqual([s, expectedSeek(extents, s, false, sizeSectors)])
  }
}

const qemuCommands = (v3: boolean, cluster: number): string[] => [
  `write -P 1 0 ${3 * cluster}`,
  `write -P 2 ${8 * cluster + 512} 1k`,
  `write -P 3 ${20 * cluster} ${4 * cluster}`,
  `discard ${21 * cluster} ${cluster}`,
  ...(v3 ? [`write -z ${30 * cluster} ${2 * cluster}`, `write -z ${22 * cluster} ${cluster}`, `write -z -u ${23 * cluster} ${cluster}`] : []),
  `write -c -P 4 ${40 * cluster} ${cluster}`,
  `write -c -P 5 ${41 * cluster} ${cluster}`,
  `write -P 6 ${700 * cluster} ${cluster}`,
]

describeWithQemu('map and seeks agree with qemu-img map', () => {
  const tmp = useTempDir('qcow-map-')

  describe('images written by qemu-io', () => {
    const cases = [
      { clusterSize: 512, compat: '1.1' as const },
      { clusterSize: 4096, compat: '1.1' as const },
      { clusterSize: 65536, compat: '1.1' as const },
      { clusterSize: 65536, compat: '0.10' as const },
    ]
    it.each(cases)('$clusterSize-byte clusters, compat $compat', async ({ clusterSize, compat }) => {
      const path = tmp.file(`qemu-${clusterSize}-${compat}.qcow2`)
      await qemuImage(path, { size: 1000 * clusterSize + 3 * 512, clusterSize, compat }, qemuCommands(compat === '1.1', clusterSize))
      const extents = await expectMapLikeQemu(path)
      expect(extents.some((e) => e.present && e.zero)).toBe(compat === '1.1')
      const { device } = await openFile(path, true)
      await expectSeeksFollow(device, extents)
      const part = await run(device.map(8 * (clusterSize / 512) + 1, 40 * (clusterSize / 512)))
      expect(part[0]?.start).toBe(8 * clusterSize + 512)
      expect(part.reduce((n, e) => n + e.length, 0)).toBe(40 * clusterSize)
    })
  })

  it('images written by us: writes, writeZeroes (with and without unmap) and discards', async () => {
    for (const compat of ['1.1', '0.10'] as const) {
      const cs = 4096
      const disk = await ramDisk(1 * M)
      const device = await run(Qcow.create(disk, { size: 4 * M, clusterSize: cs, compat }))
      await run(device.write(0, [pattern(40 * cs, 1)]))
      await run(device.write((100 * cs) / 512 + 3, [pattern(5 * cs, 2)]))
      await run(device.writeZeroes((2 * cs) / 512, (3 * cs) / 512))
      await run(device.writeZeroes((10 * cs) / 512, (4 * cs) / 512, { unmap: true }))
      await run(device.writeZeroes((300 * cs) / 512, (2 * cs) / 512))
      await run(device.discard((20 * cs) / 512 + 1, (5 * cs) / 512))
      await run(device.discard((101 * cs) / 512, cs / 512))
      const path = tmp.file(`ours-${compat}.qcow2`)
      await saveTo(device, disk, path)
      const extents = await expectMapLikeQemu(path)
      await expectSeeksFollow(device, extents)
    }
  })

  it('a 1 TiB sparse image answers fast', async () => {
    const path = tmp.file('huge.qcow2')
    const T = 1024 * 1024 * M
    await qemuImage(path, { size: T }, ['write -P 1 0 64k', `write -P 2 ${300 * 1024 * M} 128k`, `write -z ${600 * 1024 * M} 64k`, `write -P 3 ${T - 64 * K} 64k`])
    const started = Date.now()
    const extents = await expectMapLikeQemu(path)
    const { device } = await openFile(path, true)
    await expectSeeksFollow(device, extents)
    expect(await run(device.seekMapped(1))).toBe(1)
    expect(await run(device.seekMapped(128))).toBe((300 * 1024 * M) / 512)
    expect(Date.now() - started).toBeLessThan(5000)
  })
})
