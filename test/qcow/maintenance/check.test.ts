// check() compared with `qemu-img check --output=json` on clean and deliberately damaged images; repair() then passes qemu-img check.
import { copyFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { CheckReport } from '../../../src/qcow/index.js'
import { HEADER } from '../../../src/qcow/format/constants.js'
import { check as qemuCheck, describeWithQemu, qemuImg, qemuIoOk, useTempDir, type QemuCheck } from '../../support/qemu.js'
import { run } from '../support/harness.js'
import { openFile, patch, qemuImage, readU64, saveTo, u64 } from './support.js'

const K = 1024

/** The counts of a qemu-img report in our report's shape (QEMU leaves zero counts out). */
const countsOf = (q: QemuCheck) => ({
  corruptions: q.corruptions ?? 0,
  leaks: q.leaks ?? 0,
  checkErrors: q['check-errors'],
  fragmentedClusters: q['fragmented-clusters'] ?? 0,
  compressedClusters: q['compressed-clusters'] ?? 0,
  allocatedClusters: q['allocated-clusters'] ?? 0,
  totalClusters: q['total-clusters'],
  imageEndOffset: q['image-end-offset'] ?? 0,
})

const ourCounts = (r: CheckReport) => ({
  corruptions: r.corruptions,
  leaks: r.leaks,
  checkErrors: r.checkErrors,
  fragmentedClusters: r.fragmentedClusters,
  compressedClusters: r.compressedClusters,
  allocatedClusters: r.allocatedClusters,
  totalClusters: r.totalClusters,
  imageEndOffset: r.imageEndOffset,
})

/** Where the structures of an image live, read from its header and tables. */
interface Layout {
  readonly clusterSize: number
  readonly l1: number
  readonly reftable: number
  readonly refblock0: number
  readonly l2: number
  readonly refcountBytes: number
}

const layoutOf = async (path: string, clusterSize: number, refcountBits: number): Promise<Layout> => {
  const l1 = await readU64(path, HEADER.l1TableOffset)
  const reftable = await readU64(path, HEADER.refcountTableOffset)
  return {
    clusterSize,
    l1,
    reftable,
    refblock0: await readU64(path, reftable),
    l2: (await readU64(path, l1)) % 2 ** 55,
    refcountBytes: refcountBits / 8,
  }
}

interface Damage {
  readonly name: string
  readonly damage: (path: string, l: Layout) => Promise<void>
  /** `qemu-img check -r all` leaves it corrupt, so repair is not expected to clean it either. */
  readonly unrepairable?: boolean
  /**
   * `qemu-img check -r all` first grows the file to hold the misplaced refcount block (a 1 TiB sparse
   * file here), which repair does not imitate: only the outcome (a clean image) is compared.
   */
  readonly qemuGrowsFile?: boolean
}

/** Sets the refcount of host cluster `cluster` (16-bit refcounts) to `value`. */
const setRefcount = (path: string, l: Layout, cluster: number, value: number): Promise<void> =>
  patch(path, l.refblock0 + cluster * l.refcountBytes, [value >> 8, value & 255])

/** The L2 entry of guest cluster `index` (first L2 table). */
const l2Entry = async (path: string, l: Layout, index: number): Promise<number> => readU64(path, l.l2 + index * 8)

const damages: ReadonlyArray<Damage> = [
  { name: 'clean', damage: async () => undefined },
  { name: 'leaked cluster (L2 entry zeroed)', damage: (p, l) => patch(p, l.l2, u64(0)) },
  { name: 'refcount too low (0)', damage: async (p, l) => setRefcount(p, l, ((await l2Entry(p, l, 1)) % 2 ** 55) / l.clusterSize, 0) },
  { name: 'refcount too high (2)', damage: async (p, l) => setRefcount(p, l, ((await l2Entry(p, l, 1)) % 2 ** 55) / l.clusterSize, 2) },
  { name: 'COPIED flag cleared', damage: async (p, l) => patch(p, l.l2, [0]) },
  { name: 'L1 COPIED flag cleared', damage: async (p, l) => patch(p, l.l1, [0]) },
  { name: 'L2 entry unaligned', damage: async (p, l) => patch(p, l.l2 + 8, u64((await l2Entry(p, l, 1)) + 512)), unrepairable: true },
  { name: 'L2 entry with reserved bits', damage: async (p, l) => patch(p, l.l2 + 16 + 7, [(await l2Entry(p, l, 2)) % 256 | 2]), unrepairable: true },
  { name: 'L2 entry 4 GiB past the end', damage: async (p, l) => patch(p, l.l2 + 8, u64(2 ** 63 + 4 * 2 ** 30 + 0x50000)), unrepairable: true },
  { name: 'refcount block past the end', damage: (p, l) => patch(p, l.reftable, u64(2 ** 40)), qemuGrowsFile: true },
  { name: 'L2 table overlapping the L1 table', damage: (p, l) => patch(p, l.l1 + 8, u64(2 ** 63 + l.l1)), unrepairable: true },
  { name: 'refcount table entry unaligned', damage: (p, l) => patch(p, l.reftable + 8, u64(l.clusterSize * 2 + 512)) },
]

describeWithQemu('check and repair agree with qemu-img check', () => {
  const tmp = useTempDir('qcow-check-')

  /** A qemu-made image: data at guest 0..3 clusters, a zero cluster, scattered data, compressed clusters. */
  const baseImage = async (name: string, clusterSize = 65536): Promise<string> => {
    const path = tmp.file(`${name}.qcow2`)
    const c = clusterSize
    await qemuImage(path, { size: 200 * c, clusterSize: c }, [
      `write -P 1 0 ${3 * c}`,
      `write -z ${16 * c} ${c}`,
      `write -P 2 ${32 * c} 4k`,
      `write -P 3 ${5 * c} ${c}`,
      `write -c -P 4 ${50 * c} ${c}`,
      `write -c -P 5 ${51 * c} ${c}`,
      `write -P 6 ${40 * c} ${c}`,
      `write -z ${40 * c} ${c}`,
    ])
    return path
  }

  describe('check', () => {
    it.each(damages)('$name: counts and problem lines equal qemu-img check', async ({ name, damage }) => {
      const path = await baseImage(`check-${name}`)
      await damage(path, await layoutOf(path, 65536, 16))
      const q = await qemuCheck(path)
      expect(q.report, q.stderr).toBeDefined()
      const { device } = await openFile(path, true)
      const ours = await run(device.check())
      expect(ourCounts(ours)).toEqual(countsOf(q.report!))
      const human = await qemuImg(['check', '-f', 'qcow2', path])
      const qemuLines = human.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('qcow2:'))
      expect(ours.problems).toEqual(qemuLines)
    })

    it('512 B clusters, an internal snapshot and COPIED flags flipped across many L2 tables and refcount blocks: counts and problem lines equal qemu-img check', async () => {
      const c = 512
      const path = tmp.file('copied-many.qcow2')
      await qemuImage(path, { size: 8 * K * c, clusterSize: c }, [`write -P 1 0 ${3 * K * c}`, `write -P 2 ${5 * K * c} ${K * c}`])
      expect((await qemuImg(['snapshot', '-c', 's1', path])).code).toBe(0)
      await qemuIoOk(path, [`write -P 3 ${K * c} ${K * c}`, `write -P 4 ${6 * K * c} ${c}`])
      const l1 = await readU64(path, HEADER.l1TableOffset)
      for (let i = 0; i < 128; i += 3) {
        const l2 = (await readU64(path, l1 + i * 8)) % 2 ** 55
        if (l2 === 0) continue
        for (const entry of [i % 64, (i * 7) % 64]) {
          const value = await readU64(path, l2 + entry * 8)
          if (value !== 0) await patch(path, l2 + entry * 8, [Math.floor(value / 2 ** 56) ^ 0x80])
        }
      }
      const q = await qemuCheck(path)
      expect(q.report, q.stderr).toBeDefined()
      const { device } = await openFile(path, true)
      const ours = await run(device.check())
      expect(ourCounts(ours)).toEqual(countsOf(q.report!))
      expect(ours.corruptions).toBeGreaterThan(20)
      const human = await qemuImg(['check', '-f', 'qcow2', path])
      expect(ours.problems).toEqual(human.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('qcow2:')))
    })

    it('cluster sizes 512 B and 2 MiB', async () => {
      for (const c of [512, 2 * 1024 * 1024]) {
        const path = await baseImage(`sizes-${c}`, c)
        const { device } = await openFile(path, true)
        expect(ourCounts(await run(device.check()))).toEqual(countsOf((await qemuCheck(path)).report!))
      }
    })
  })

  describe('repair', () => {
    it.each(damages.flatMap((d) => (['leaks', 'all'] as const).map((mode) => ({ ...d, mode }))))(
      '$name, $mode: fixed counts equal qemu-img check -r, and qemu-img check agrees afterwards',
      async ({ name, damage, mode, unrepairable, qemuGrowsFile }) => {
        const ours = await baseImage(`repair-${name}-${mode}`)
        await damage(ours, await layoutOf(ours, 65536, 16))
        const theirs = tmp.file(`repair-${name}-${mode}-qemu.qcow2`)
        await copyFile(ours, theirs)
        const q = await qemuCheck(theirs, { repair: mode })
        const { disk, device } = await openFile(ours)
        const result = await device.repair({ leaks: true, all: mode === 'all' })()
        if (q.report === undefined) {
          expect(result._tag).toBe('Left')
          return
        }
        if (result._tag === 'Left') throw new Error(`repair failed: ${JSON.stringify(result.left)}`)
        const r = result.right
        if (qemuGrowsFile === true && mode === 'all') {
          await saveTo(device, disk, ours)
          expect((await qemuCheck(ours)).code).toBe(0)
          return
        }
        expect({ ...ourCounts(r), leaksFixed: r.leaksFixed, corruptionsFixed: r.corruptionsFixed }).toEqual({
          ...countsOf(q.report),
          leaksFixed: q.report['leaks-fixed'] ?? 0,
          corruptionsFixed: q.report['corruptions-fixed'] ?? 0,
        })
        await saveTo(device, disk, ours)
        const after = await qemuCheck(ours)
        const afterQemu = await qemuCheck(theirs)
        expect(countsOf(after.report!)).toEqual(countsOf(afterQemu.report!))
        if (mode === 'all' && unrepairable !== true) expect(after.code).toBe(0)
      },
    )
  })
})

describe('check on images written by us', () => {
  it('is clean after writes, and counts fragmentation from Debug.setNextCluster', async () => {
    const { Qcow, ramDisk, pattern } = await import('../support/harness.js')
    const disk = await ramDisk(K * K)
    const device = await run(Qcow.create(disk, { size: 8 * K * K, clusterSize: 4096 }))
    await run(device.write(0, [pattern(16 * 4096, 1)]))
    await run(Qcow.Debug.setNextCluster(device, 200))
    await run(device.write(128, [pattern(4096, 2)]))
    const report = await run(device.check())
    expect(report).toMatchObject({ corruptions: 0, leaks: 0, checkErrors: 0, allocatedClusters: 17, fragmentedClusters: 1 })
  })
})
