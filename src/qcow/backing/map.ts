// Allocation through a backing chain: the map with qemu-img's depth, and the chain-aware seekMapped/seekUnmapped.
import type { BlockDevice } from '../../block/device.js'
import type { MapExtent, QcowDevice } from '../api.js'
import type { QcowError } from '../errors.js'
import type { Image } from '../image.js'
import { must } from '../io/fault.js'
import type { LowerLayer } from '../io/unallocated.js'
import { mapExtents, seekAllocation } from '../maintenance/extents.js'
import { backingOf, looksLikeQcow } from './layer.js'

/** A backing device's seeks, when it offers both (a qcow device always does). */
interface Seeks {
  readonly seekMapped: (fromSector: number) => Promise<number>
  readonly seekUnmapped: (fromSector: number) => Promise<number>
}

const seeksOf = (device: BlockDevice<QcowError>): Seeks | undefined => {
  const { seekMapped, seekUnmapped } = device
  if (seekMapped === undefined || seekUnmapped === undefined) return undefined
  return { seekMapped: (from) => must(seekMapped.call(device, from)), seekUnmapped: (from) => must(seekUnmapped.call(device, from)) }
}

/** Appends `e`, merging it into the previous extent when depth, flags and (when present) offsets continue it. */
const append = (out: MapExtent[], e: MapExtent): void => {
  const last = out[out.length - 1]
  const continues =
    last !== undefined &&
    last.start + last.length === e.start &&
    last.depth === e.depth &&
    last.present === e.present &&
    last.zero === e.zero &&
    last.data === e.data &&
    (last.offset === undefined ? e.offset === undefined : e.offset === last.offset + last.length)
  if (continues) out[out.length - 1] = { ...last, length: last.length + e.length }
  else out.push(e)
}

/** Unallocated zeroes described by the layer at `depth`. */
const hole = (start: number, length: number, depth: number): MapExtent => ({ start, length, depth, present: false, zero: true, data: false })

/**
 * A raw (non-qcow) layer's bytes `[start, end)`: data where the device may hold some, zeroes where
 * its seeks say unmapped (all data without seeks). Both are present at the layer's depth with their
 * offset in the device, as qemu-img maps a raw file's data and holes.
 */
const rawExtents = async (device: BlockDevice<QcowError>, sectorSize: number, start: number, end: number, depth: number): Promise<MapExtent[]> => {
  const seeks = seeksOf(device)
  const out: MapExtent[] = []
  for (let at = start; at < end; ) {
    const sector = Math.floor(at / sectorSize)
    const nextMapped = seeks === undefined ? at : (await seeks.seekMapped(sector)) * sectorSize
    const mapped = nextMapped <= at
    const next = seeks === undefined ? end : mapped ? (await seeks.seekUnmapped(sector)) * sectorSize : nextMapped
    const stop = Math.min(end, Math.max(next, (sector + 1) * sectorSize))
    append(out, { start: at, length: stop - at, depth, present: true, zero: !mapped, data: mapped, offset: at })
    at = stop
  }
  return out
}

/** How the layer below an image at `depth - 1` serves guest bytes `[start, start + length)`. */
const lowerExtents = async (lower: LowerLayer, start: number, length: number, depth: number): Promise<MapExtent[]> => {
  const layer = backingOf(lower)
  if (layer === undefined) return [hole(start, length, depth - 1)]
  const { device, sectorSize, sizeBytes } = layer.backing
  const inside = Math.max(0, Math.min(length, sizeBytes - start))
  const out: MapExtent[] = []
  if (inside > 0) {
    const below = looksLikeQcow(device)
      ? (await must((device as QcowDevice).map(start / sectorSize, inside / sectorSize))).map((e) => ({ ...e, depth: e.depth + depth }))
      : await rawExtents(device, sectorSize, start, start + inside, depth)
    for (const e of below) append(out, e)
  }
  if (inside < length) append(out, hole(start + inside, length - inside, depth - 1))
  return out
}

/**
 * The map of guest bytes `[from, from + length)` through the chain, as `qemu-img map --output=json`
 * reports it: extents this image allocates are at depth 0; unallocated ones are described by the
 * backing (a qcow backing by its own chain map, a raw one as data, or zeroes where its seeks say
 * unmapped, at the same offset) and, past the end of a shorter backing, as unallocated zeroes of the
 * last layer covering them.
 */
export const chainMap = async (img: Image, from: number, length: number): Promise<MapExtent[]> => {
  const out: MapExtent[] = []
  for (const e of await mapExtents(img, from, length)) {
    if (e.present) append(out, e)
    else for (const x of await lowerExtents(img.lower, e.start, e.length, 1)) append(out, x)
  }
  return out
}

/**
 * The first byte in `[from, end)` where the layer below is mapped (`mapped`) or unmapped, else `end`.
 * Past the end of the backing, and everywhere without one, is unmapped; a backing without seeks is
 * mapped throughout.
 */
const seekLower = async (lower: LowerLayer, from: number, end: number, mapped: boolean): Promise<number> => {
  const layer = backingOf(lower)
  const inside = layer === undefined ? from : Math.max(from, Math.min(end, layer.backing.sizeBytes))
  if (layer === undefined || inside === from) return mapped ? end : from
  const { device, sectorSize } = layer.backing
  const seeks = seeksOf(device)
  const sector = Math.floor(from / sectorSize)
  const found = seeks === undefined ? (mapped ? from : inside) : Math.max(from, (await (mapped ? seeks.seekMapped : seeks.seekUnmapped)(sector)) * sectorSize)
  if (found < inside) return found
  return mapped ? end : inside
}

/**
 * The first byte at or after `from` that is mapped (`mapped`) or unmapped through the chain, the size
 * when none. Mapped: allocated in this image (data, compressed or ZERO cluster) or, where this image
 * leaves it unallocated, mapped in the backing (allocated in a qcow backing, data in a raw one).
 * Unmapped bytes are allocated in no layer, or lie past the end of a shorter backing: they read as zeroes.
 */
export const seekChain = async (img: Image, from: number, mapped: boolean): Promise<number> => {
  const size = img.header.size
  if (mapped) {
    const own = await seekAllocation(img, from, true)
    return own > from ? Math.min(own, await seekLower(img.lower, from, own, true)) : own
  }
  for (let at = from; at < size; ) {
    const gap = await seekAllocation(img, at, false)
    if (gap >= size) return size
    const gapEnd = await seekAllocation(img, gap, true)
    const found = await seekLower(img.lower, gap, gapEnd, false)
    if (found < gapEnd) return found
    at = gapEnd
  }
  return size
}
