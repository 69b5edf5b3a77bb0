// Opening an image: reading and validating the header and tables against QEMU's limits, then building the Image.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../block/device.js'
import { unsupported } from '../block/errors.js'
import { invalidImage, type QcowError } from './errors.js'
import { INCOMPAT_DIRTY, MAX_L1_BYTES, MAX_REFTABLE_BYTES } from './format/constants.js'
import { geometry, l1EntriesFor } from './format/geometry.js'
import { parseHeader, probeClusterBits, withIncompatibleBit, type ParsedHeader } from './format/header.js'
import { Image } from './image.js'
import { BASE_SECTOR, BaseIo } from './io/base-io.js'
import { fail, must } from './io/fault.js'
import { check, checkTable, readBytes, readSnapshots } from './io/metadata-read.js'
import { L1Table } from './map/l1-table.js'
import type { DecodedConnectOptions } from './options.js'
import { rebuildRefcountTable } from './refcount/rebuild.js'

/**
 * Default L2 cache bound, or less when that maps more than the whole disk: 8 MiB (64 GiB of guest with
 * 64 KiB clusters). QEMU 7.2 allows 32 MiB on Linux because it returns idle entries to the system
 * (cache-clean-interval, 600 s) and caches 4 KiB slices of tables when the bound cannot hold them all;
 * where it cannot clean, its bound is 8 MiB. This cache keeps whole tables and never shrinks, so it
 * takes the bound QEMU uses without cleaning.
 */
const DEFAULT_L2_CACHE_BYTES = 8 * 1024 * 1024
/** Default refcount block cache bound. */
const DEFAULT_REFCOUNT_CACHE_BYTES = 4 * 1024 * 1024

/** Reads and validates the header of the image on `io`. */
export const readHeader = async (io: BaseIo): Promise<ParsedHeader> => {
  check(io.sizeBytes >= BASE_SECTOR, `the device holds ${io.sizeBytes} bytes, too few for a qcow2 header`)
  const probe = await readBytes(io, 0, BASE_SECTOR)
  const bits = probeClusterBits(probe)
  if (E.isLeft(bits)) return fail(bits.left)
  const cluster = await readBytes(io, 0, 2 ** bits.right)
  const parsed = parseHeader(cluster)
  return E.isLeft(parsed) ? fail(parsed.left) : parsed.right
}

/** Checks every table the header names against QEMU's limits and the device. */
const checkTables = (h: ParsedHeader, deviceBytes: number): void => {
  const g = geometry(h.clusterBits, h.refcountOrder)
  const reftableBytes = h.refcountTableClusters * h.clusterSize
  check(reftableBytes <= MAX_REFTABLE_BYTES, `refcount table of ${reftableBytes} bytes exceeds QEMU's limit of ${MAX_REFTABLE_BYTES}`)
  checkTable('refcount table', h.refcountTableOffset, reftableBytes, h.clusterSize, deviceBytes)
  check(h.l1Size * 8 <= MAX_L1_BYTES, `active L1 table of ${h.l1Size} entries exceeds QEMU's limit of ${MAX_L1_BYTES} bytes`)
  check(h.l1Size >= l1EntriesFor(g, h.size), `L1 table is too small: ${h.l1Size} entries cannot map ${h.size} bytes`)
  checkTable('L1 table', h.l1TableOffset, h.l1Size * 8, h.clusterSize, deviceBytes)
}

/** Extra knowledge a caller (create) may pass about the device. */
export interface OpenHints {
  /** Base bytes at and past this offset read as zeroes. */
  readonly zeroFrom?: number
}

/** Opens the image stored on `base`. */
export const openImage = async (base: BlockDevice<QcowError>, options: DecodedConnectOptions, hints: OpenHints = {}): Promise<Image> => {
  const info = await must(base.getInfo())
  if (info.sectorSize !== BASE_SECTOR) fail(unsupported('qcow2 over this device', `its sector size is ${info.sectorSize} bytes; 512 is required`))
  const io = new BaseIo(base, info.sizeSectors * BASE_SECTOR)
  const readOnly = options.readOnly || !info.readWrite
  const header = await readHeader(io)
  if (header.corrupt && !readOnly && options.repairCorrupt !== true) {
    fail(invalidImage('the image is marked corrupt; it can only be opened read-only, or read-write with repairCorrupt to repair it'))
  }
  checkTables(header, io.sizeBytes)
  await readSnapshots(io, header)
  const g = geometry(header.clusterBits, header.refcountOrder)
  const l1 = new L1Table(header.l1TableOffset, await readBytes(io, header.l1TableOffset, header.l1Size * 8))
  const reftable = await readBytes(io, header.refcountTableOffset, header.refcountTableClusters * header.clusterSize)
  const l2Bytes = options.l2CacheBytes ?? Math.min(DEFAULT_L2_CACHE_BYTES, Math.max(1, header.l1Size) * header.clusterSize)
  const refcountBytes = options.refcountCacheBytes ?? DEFAULT_REFCOUNT_CACHE_BYTES
  const img = new Image({
    base,
    io,
    header,
    geometry: g,
    l1,
    reftable,
    readOnly,
    l2CacheTables: Math.max(2, Math.floor(l2Bytes / header.clusterSize)),
    refcountCacheTables: Math.max(4, Math.floor(refcountBytes / header.clusterSize)),
    zeroFrom: hints.zeroFrom ?? io.sizeBytes,
  })
  img.corruptFound = header.corrupt
  if (!readOnly) {
    if (header.dirty) {
      await rebuildRefcountTable(img)
      await img.updateHeader(withIncompatibleBit(img.header, INCOMPAT_DIRTY, false))
    }
    await img.clearAutoclear()
  }
  return img
}
