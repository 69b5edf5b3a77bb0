// The maintenance methods of a qcow device: argument checks, write exclusion and flushing around the operations.
import * as E from 'fp-ts/lib/Either.js'
import { disconnected, misaligned, outOfRange, readOnlyError } from '../../block/errors.js'
import { checkRange, checkSeekStart } from '../../block/validate.js'
import type { CheckReport, MapExtent, RepairReport } from '../api.js'
import { corrupt } from '../errors.js'
import type { Image } from '../image.js'
import { fail } from '../io/fault.js'
import { flushImage } from '../io/flush.js'
import { chainMap, seekChain } from '../backing/map.js'
import { analyze, reportOf } from './check.js'
import { decodeRepairOptions, decodeResizeOptions, decodeWriteZeroesOptions } from './options.js'
import { findOverlaps } from './overlaps.js'
import { rebuildFrom, repairImage } from './repair.js'
import { resizeImage } from './resize.js'
import { zeroRange, type ZeroMode } from './zeroing.js'

/** Sector size of qcow devices. */
const SECTOR = 512
/** A lock range covering every guest cluster. */
const ALL_CLUSTERS = Number.MAX_SAFE_INTEGER

const live = (img: Image): void => {
  if (!img.connected) fail(disconnected())
}

const writable = (img: Image, operation: string): void => {
  live(img)
  if (img.readOnly) fail(readOnlyError(operation))
  if (img.corruptFound) fail(corrupt('the image was found corrupt earlier; writes are refused'))
}

const sizeSectors = (img: Image): number => Math.floor(img.header.size / SECTOR)

/** Validates `[sector, sector + sectors)` against the disk. */
const inRange = (img: Image, sector: number, sectors: number): void => {
  const checked = checkRange(sector, sectors, sizeSectors(img))
  if (E.isLeft(checked)) fail(checked.left)
}

/** Runs `body` with every write held off, after a flush when the image is writable. */
const exclusive = async <A>(img: Image, body: () => Promise<A>): Promise<A> => {
  const unlock = await img.ranges.acquire(0, ALL_CLUSTERS)
  try {
    if (!img.readOnly && !img.corruptFound) await flushImage(img)
    return await body()
  } finally {
    unlock()
  }
}

/** `seekMapped` (mapped true) or `seekUnmapped` through the backing chain: a sector number, the size in sectors when none. */
export const seek = async (img: Image, fromSector: number, mapped: boolean): Promise<number> => {
  live(img)
  const start = checkSeekStart(fromSector, sizeSectors(img))
  if (E.isLeft(start)) return fail(start.left)
  const found = await seekChain(img, start.right * SECTOR, mapped)
  return Math.floor(found / SECTOR)
}

/** `map`: the merged extents of a sector range (default the whole disk) through the backing chain, with depths. */
export const map = async (img: Image, fromSector = 0, sectors?: number): Promise<MapExtent[]> => {
  live(img)
  const count = sectors ?? Math.max(0, sizeSectors(img) - fromSector)
  inRange(img, fromSector, count)
  return chainMap(img, fromSector * SECTOR, count * SECTOR)
}

/** `discard` and `writeZeroes`. */
export const zero = async (img: Image, sector: number, sectors: number, mode: ZeroMode): Promise<void> => {
  writable(img, mode === 'discard' ? 'discard' : 'writeZeroes')
  inRange(img, sector, sectors)
  await zeroRange(img, sector * SECTOR, sectors * SECTOR, mode)
}

/** The zeroing mode `writeZeroes` options select. */
export const writeZeroesMode = (options: unknown): ZeroMode => {
  const decoded = decodeWriteZeroesOptions(options)
  if (E.isLeft(decoded)) return fail(decoded.left)
  return decoded.right.unmap === true ? 'zeroUnmap' : 'zero'
}

/** Largest size in sectors a resize may ask for. */
const MAX_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / SECTOR)

/**
 * `resize`. With an options object (issue 4's maintenance call) `size` is the new virtual size in
 * bytes and shrinking below allocated clusters needs `allowShrink`; without one it is the
 * BlockDevice capability `resize(sizeSectors)`, which shrinks freely.
 */
export const resize = async (img: Image, size: number, options: unknown): Promise<void> => {
  live(img)
  if (options === undefined) {
    const range = checkRange(0, size, MAX_SECTORS)
    if (E.isLeft(range)) return fail(range.left)
    writable(img, 'resize')
    return resizeImage(img, size * SECTOR, true)
  }
  const decoded = decodeResizeOptions(options)
  if (E.isLeft(decoded)) return fail(decoded.left)
  if (!Number.isSafeInteger(size) || size < 0) return fail(outOfRange(0, 0, sizeSectors(img), `new size ${size} is not a non-negative safe integer number of bytes`))
  if (size % SECTOR !== 0) return fail(misaligned(`new size ${size} bytes is not a multiple of ${SECTOR}`))
  writable(img, 'resize')
  await resizeImage(img, size, decoded.right.allowShrink === true)
}

/** `check`: the report, changing nothing but flushing a writable image first. */
export const check = async (img: Image): Promise<CheckReport> => {
  live(img)
  return exclusive(img, async () => reportOf(img, await analyze(img)))
}

/** `repair`. */
export const repair = async (img: Image, options: unknown): Promise<RepairReport> => {
  const decoded = decodeRepairOptions(options)
  if (E.isLeft(decoded)) return fail(decoded.left)
  live(img)
  if (img.readOnly) fail(readOnlyError('repair'))
  const all = decoded.right.all === true
  return exclusive(img, () => repairImage(img, all || decoded.right.leaks === true, all))
}

/** `rebuildRefcountTable`. */
export const rebuild = async (img: Image): Promise<void> => {
  writable(img, 'rebuildRefcountTable')
  await exclusive(img, async () => {
    await rebuildFrom(img, await analyze(img))
  })
}

/** `Debug.checkNoOverlaps`: fails with Corrupt naming every overlap. */
export const checkNoOverlaps = async (img: Image): Promise<void> => {
  live(img)
  const clashes = await findOverlaps(img)
  if (clashes.length > 0) fail(corrupt(`metadata overlaps: ${clashes.join('; ')}`))
}
