// Formatting a base device as a new, empty qcow2 image.
import type { BlockDevice } from '../block/device.js'
import { readOnlyError, unsupported } from '../block/errors.js'
import { invalidImage, type QcowError } from './errors.js'
import { setReftableEntry } from './format/entries.js'
import { serializeHeader } from './format/header.js'
import { createLayout, type CreateParameters } from './format/layout.js'
import { setRefcount } from './format/refcount-block.js'
import { BASE_SECTOR, BaseIo } from './io/base-io.js'
import { fail, must } from './io/fault.js'

/**
 * Writes the header, refcount table, refcount blocks and an empty L1 table of a new image, growing
 * the device just enough when it is too small (or failing with NoSpace). Returns the offset from which the
 * device is known to read as zeroes.
 */
export const formatImage = async (base: BlockDevice<QcowError>, p: CreateParameters): Promise<number> => {
  const info = await must(base.getInfo())
  if (info.sectorSize !== BASE_SECTOR) fail(unsupported('qcow2 over this device', `its sector size is ${info.sectorSize} bytes; 512 is required`))
  if (!info.readWrite) fail(readOnlyError('create a qcow2 image'))
  const layout = createLayout(p)
  const { geometry: g } = layout
  const cs = g.clusterSize
  const io = new BaseIo(base, info.sizeSectors * BASE_SECTOR)
  const imageBytes = layout.totalClusters * cs
  // Like qemu-img, the file ends with the L1 table's last sector, not its cluster: later writes extend it.
  const l1Bytes = Math.ceil((layout.header.l1Size * 8) / BASE_SECTOR) * BASE_SECTOR
  const before = await io.ensureSize(layout.l1.count === 0 ? imageBytes : layout.l1.first * cs + l1Bytes, true)

  const header = serializeHeader(layout.header)
  if (header === undefined) return fail(invalidImage('the header does not fit in one cluster'))
  const cluster0 = new Uint8Array(cs)
  cluster0.set(header)
  await io.write(0, cluster0)

  const reftable = new Uint8Array(layout.reftable.count * cs)
  const reftableView = new DataView(reftable.buffer)
  for (let b = 0; b < layout.refblocks.count; b++) setReftableEntry(reftableView, b, (layout.refblocks.first + b) * cs)
  await io.write(layout.reftable.first * cs, reftable)

  for (let b = 0; b < layout.refblocks.count; b++) {
    const block = new Uint8Array(cs)
    const view = new DataView(block.buffer)
    const first = b * g.refcountsPerBlock
    const stop = Math.min(layout.totalClusters, first + g.refcountsPerBlock)
    for (let c = first; c < stop; c++) setRefcount(block, view, g.refcountOrder, c - first, 1)
    await io.write((layout.refblocks.first + b) * cs, block)
  }
  if (l1Bytes > 0) await io.write(layout.l1.first * cs, new Uint8Array(l1Bytes))
  await io.flush()
  return Math.max(imageBytes, before < imageBytes ? before : io.sizeBytes)
}
