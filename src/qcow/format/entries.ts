// Bit layout of L1, L2, compressed and refcount-table entries, read as two big-endian 32-bit halves.

/** What one standard (non-extended) L2 entry describes. */
export type L2Kind = 'unallocated' | 'zero' | 'zeroAllocated' | 'normal' | 'compressed'

/** Bit 31 of the high half: COPIED (refcount is exactly 1). */
export const COPIED_HI = 0x80000000
/** Bit 30 of the high half: COMPRESSED. */
export const COMPRESSED_HI = 0x40000000
/** Bit 0 of the low half: ZERO. */
export const ZERO_LO = 0x1
/** Offset bits 32..55 in the high half. */
export const OFFSET_HI_MASK = 0x00ffffff
/** Offset bits 9..31 in the low half. */
export const OFFSET_LO_MASK = 0xfffffe00
/** Reserved bits of an L1 entry: bits 56..62 (high) and 0..8 (low). */
export const L1_RESERVED_HI = 0x7f000000
export const L1_RESERVED_LO = 0x000001ff
/** Reserved bits of a standard L2 entry: bits 56..61 (high) and 1..8 (low). */
export const L2_RESERVED_HI = 0x3f000000
export const L2_RESERVED_LO = 0x000001fe
/** Reserved bits of a refcount table entry: bits 0..8. */
export const REFTABLE_RESERVED_LO = 0x000001ff

/** The offset refcount table entry `index` of `view` names (bits 9..63, reserved bits ignored; 0: no block). */
export const reftableEntryOffset = (view: DataView, index: number): number =>
  view.getUint32(index * 8) * 0x100000000 + ((view.getUint32(index * 8 + 4) & OFFSET_LO_MASK) >>> 0)

/** Stores `offset` (cluster aligned) as refcount table entry `index` of `view`. */
export const setReftableEntry = (view: DataView, index: number, offset: number): void => {
  view.setUint32(index * 8, Math.floor(offset / 0x100000000))
  view.setUint32(index * 8 + 4, offset >>> 0)
}

/** The offset field (bits 9..55) of an L1/L2 entry as a number (exact: at most 2^56, checked by callers). */
export const entryOffset = (hi: number, lo: number): number => (hi & OFFSET_HI_MASK) * 0x100000000 + ((lo & OFFSET_LO_MASK) >>> 0)

/** The high half of an entry pointing at `offset` (bits 32..55), without flags. */
export const offsetHi = (offset: number): number => Math.floor(offset / 0x100000000) & OFFSET_HI_MASK
/** The low half of an entry pointing at `offset` (bits 9..31). */
export const offsetLo = (offset: number): number => (offset % 0x100000000) >>> 0

/** Classifies a standard L2 entry (flags only; the caller validates reserved bits and alignment). */
export const l2Kind = (hi: number, lo: number): L2Kind => {
  if ((hi & COMPRESSED_HI) !== 0) return 'compressed'
  const hasOffset = (hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0
  if ((lo & ZERO_LO) !== 0) return hasOffset ? 'zeroAllocated' : 'zero'
  return hasOffset ? 'normal' : 'unallocated'
}

/** The shape of compressed descriptors for one cluster size. */
export interface CompressedLayout {
  /** x = 62 - (cluster_bits - 8): the first bit of the sector-count field. */
  readonly x: number
  /** Mask of the sector-count field once shifted down. */
  readonly sectorMask: number
}

/** The compressed-descriptor layout for `clusterBits`. */
export const compressedLayout = (clusterBits: number): CompressedLayout => ({
  x: 62 - (clusterBits - 8),
  sectorMask: 2 ** (clusterBits - 8) - 1,
})

/** Where the compressed bytes of a cluster live: `offset` on the host and at most `length` bytes. */
export interface CompressedExtent {
  readonly offset: number
  readonly length: number
}

/** Decodes a compressed descriptor (`hi` with bits 62/63 included; they are masked off). */
export const compressedExtent = (layout: CompressedLayout, hi: number, lo: number): CompressedExtent => {
  const high = hi & 0x3fffffff
  // bits 0..x-1 hold the offset; x >= 41 so the offset's top part sits in the high half.
  const offsetHighBits = layout.x - 32
  const offset = (high & (2 ** offsetHighBits - 1)) * 0x100000000 + (lo >>> 0)
  const sectors = Math.floor(high / 2 ** offsetHighBits) & layout.sectorMask
  return { offset, length: (sectors + 1) * 512 - (offset % 512) }
}
