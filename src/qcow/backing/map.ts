// The allocation map through a backing chain: ranges this image leaves unallocated are described by the layer serving them, with a depth.
import type { BlockDevice } from '../../block/device.js'
import type { ChainExtent, MapExtent, QcowDevice } from '../api.js'
import type { QcowError } from '../errors.js'
import { must } from '../io/fault.js'
import type { LowerLayer } from '../io/unallocated.js'
import { backingOf, looksLikeQcow } from './layer.js'

const hasMapChain = (d: BlockDevice<QcowError>): d is QcowDevice => looksLikeQcow(d) && typeof (d as Partial<QcowDevice>).mapChain === 'function'

/** Appends `e`, merging it into the previous extent when flags, depth and (when present) offsets continue it. */
const append = (out: ChainExtent[], e: ChainExtent): void => {
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
const hole = (start: number, length: number, depth: number): ChainExtent => ({ start, length, depth, present: false, zero: true, data: false })

/** How the layer below an image at `depth - 1` serves guest bytes `[start, start + length)`. */
const lowerExtents = async (lower: LowerLayer, start: number, length: number, depth: number): Promise<ChainExtent[]> => {
  const layer = backingOf(lower)
  if (layer === undefined) return [hole(start, length, depth - 1)]
  const { device, sizeBytes } = layer.backing
  const inside = Math.max(0, Math.min(length, sizeBytes - start))
  const out: ChainExtent[] = []
  if (inside > 0) {
    if (hasMapChain(device) && start % 512 === 0 && inside % 512 === 0) {
      for (const e of await must(device.mapChain(start / 512, inside / 512))) append(out, { ...e, depth: e.depth + depth })
    } else append(out, { start, length: inside, depth, present: true, zero: false, data: true, offset: start })
  }
  if (inside < length) append(out, hole(start + inside, length - inside, depth - 1))
  return out
}

/**
 * The map through the chain: extents this image allocates (`own`, at depth 0) stay; unallocated ones
 * are described by the backing (a qcow backing by its own chain map, a raw one as data at the same
 * offset) and, past the end of a shorter backing, as unallocated zeroes of the last layer covering them.
 */
export const chainMap = async (lower: LowerLayer, own: ReadonlyArray<MapExtent>): Promise<ChainExtent[]> => {
  const out: ChainExtent[] = []
  for (const e of own) {
    if (e.present) append(out, { ...e, depth: 0 })
    else for (const x of await lowerExtents(lower, e.start, e.length, 1)) append(out, x)
  }
  return out
}
