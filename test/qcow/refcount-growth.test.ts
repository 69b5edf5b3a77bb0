// Refcount structures grow at every width: new refcount blocks, and (where cheap) a larger, self-describing refcount table.
import { expect, it } from 'vitest'
import { describeWithQemu, expectSavedImageClean, toRawBytes, useTempDir } from '../support/qemu.js'
import { Qcow, pattern, ramDisk, run, sameBytes } from './support/harness.js'

const CLUSTER = 512
/** Bytes the first refcount table cluster can describe with `bits`-bit refcounts and 512-byte clusters. */
const tableCoverage = (bits: number): number => (CLUSTER / 8) * ((CLUSTER * 8) / bits) * CLUSTER

describeWithQemu('refcount growth at every width', () => {
  const dir = useTempDir('qcow-growth-')
  for (const bits of [1, 2, 4, 8, 16, 32, 64]) {
    // Narrow widths cover too much to outgrow the table cheaply: there, many refcount blocks are enough.
    const growsTable = bits >= 8
    const volume = growsTable ? tableCoverage(bits) + 512 * 1024 : 3 * 1024 * 1024
    it(`${bits}-bit refcounts${growsTable ? ' outgrow the first refcount table cluster' : ' fill several refcount blocks'}`, async () => {
      const base = await ramDisk(64 * 1024)
      const size = volume + 1024 * 1024
      const device = await run(Qcow.create(base, { size, clusterSize: CLUSTER, refcountBits: bits }))
      const chunk = 256 * 1024
      const model = new Uint8Array(size)
      for (let offset = 0; offset < volume; offset += chunk) {
        const data = pattern(chunk, offset)
        await run(device.write(offset / 512, [data]))
        model.set(data, offset)
      }
      const header = await run(device.header())
      if (growsTable) expect(header.refcountTableClusters).toBeGreaterThan(1)
      await run(device.disconnect())
      const path = dir.file(`growth-${bits}.qcow2`)
      await expectSavedImageClean(base, path)
      expect(sameBytes(await toRawBytes(path), model)).toBe(true)
    })
  }
})
