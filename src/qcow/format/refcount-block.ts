// Reading and writing one refcount inside a refcount block, for every width from 1 to 64 bits.

/** Reads refcount `index` of a block with `2^order`-bit entries. 64-bit values above 2^53 read as 2^53. */
export const getRefcount = (block: Uint8Array, view: DataView, order: number, index: number): number => {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const bits = 1 << order
      const perByte = 8 / bits
      const byte = block[Math.floor(index / perByte)]
      return (byte >>> ((index % perByte) * bits)) & ((1 << bits) - 1)
    }
    case 3:
      return block[index]
    case 4:
      return view.getUint16(index * 2)
    case 5:
      return view.getUint32(index * 4)
    default: {
      const hi = view.getUint32(index * 8)
      const lo = view.getUint32(index * 8 + 4)
      return hi >= 0x200000 ? Number.MAX_SAFE_INTEGER : hi * 0x100000000 + lo
    }
  }
}

/** Writes refcount `index` (the caller keeps `value` within the width). */
export const setRefcount = (block: Uint8Array, view: DataView, order: number, index: number, value: number): void => {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      const bits = 1 << order
      const perByte = 8 / bits
      const at = Math.floor(index / perByte)
      const shift = (index % perByte) * bits
      const mask = ((1 << bits) - 1) << shift
      block[at] = (block[at] & ~mask) | ((value << shift) & mask)
      return
    }
    case 3:
      block[index] = value
      return
    case 4:
      view.setUint16(index * 2, value)
      return
    case 5:
      view.setUint32(index * 4, value)
      return
    default:
      view.setUint32(index * 8, Math.floor(value / 0x100000000))
      view.setUint32(index * 8 + 4, value >>> 0)
  }
}
