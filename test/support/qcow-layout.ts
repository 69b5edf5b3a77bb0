// Test-only, independent reading of a qcow2 file's mapping: header fields, L1/L2 walk, compressed descriptors.

/** The header fields a mapping walk needs. */
export interface LayoutHeader {
  readonly version: number
  readonly clusterBits: number
  readonly clusterSize: number
  readonly size: number
  readonly l1Size: number
  readonly l1TableOffset: number
  readonly compressionType: number
}

/** One guest cluster's L2 entry, decoded. */
export type GuestCluster =
  | { readonly kind: 'unallocated'; readonly guestOffset: number }
  | { readonly kind: 'zero'; readonly guestOffset: number; readonly hostOffset: number }
  | { readonly kind: 'normal'; readonly guestOffset: number; readonly hostOffset: number; readonly copied: boolean }
  | { readonly kind: 'compressed'; readonly guestOffset: number; readonly hostOffset: number; readonly maxBytes: number }

const u64 = (view: DataView, at: number): number => view.getUint32(at) * 2 ** 32 + view.getUint32(at + 4)

/** Bits 9..55 of a 64-bit table entry given as two 32-bit halves: a cluster-aligned host offset. */
const offsetBits = (high: number, low: number): number => (high & 0x00ffffff) * 2 ** 32 + (low - (low % 512))

/** Parses the header fields of a qcow2 image held in `bytes`. */
export const layoutHeader = (bytes: Uint8Array): LayoutHeader => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) !== 0x514649fb) throw new Error('not a qcow2 image')
  const version = view.getUint32(4)
  const clusterBits = view.getUint32(20)
  const headerLength = version >= 3 ? view.getUint32(100) : 72
  return {
    version,
    clusterBits,
    clusterSize: 2 ** clusterBits,
    size: u64(view, 24),
    l1Size: view.getUint32(36),
    l1TableOffset: u64(view, 40),
    compressionType: headerLength > 104 ? bytes[104]! : 0,
  }
}

/** Every guest cluster's L2 entry, decoded straight from the image bytes (no snapshots, no extended L2). */
export const guestClusters = (bytes: Uint8Array): GuestCluster[] => {
  const h = layoutHeader(bytes)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const l2Entries = h.clusterSize / 8
  const guestClusterCount = Math.ceil(h.size / h.clusterSize)
  const x = 62 - (h.clusterBits - 8)
  const out: GuestCluster[] = []
  for (let index = 0; index < guestClusterCount; index++) {
    const guestOffset = index * h.clusterSize
    const l1At = h.l1TableOffset + 8 * Math.floor(index / l2Entries)
    const l2Offset = offsetBits(view.getUint32(l1At), view.getUint32(l1At + 4))
    if (l2Offset === 0) {
      out.push({ kind: 'unallocated', guestOffset })
      continue
    }
    const at = l2Offset + 8 * (index % l2Entries)
    const high = view.getUint32(at)
    const low = view.getUint32(at + 4)
    if (high & 0x40000000) {
      // Compressed: offset in bits 0..x-1, extra sectors in bits x..61; 49 <= x <= 61, so both split at bit 32.
      const hostOffset = (high & (2 ** (x - 32) - 1)) * 2 ** 32 + low
      const sectors = Math.floor((high & 0x3fffffff) / 2 ** (x - 32)) + 1
      out.push({ kind: 'compressed', guestOffset, hostOffset, maxBytes: sectors * 512 - (hostOffset % 512) })
      continue
    }
    const hostOffset = offsetBits(high, low)
    if (low & 1) out.push({ kind: 'zero', guestOffset, hostOffset })
    else if (hostOffset === 0) out.push({ kind: 'unallocated', guestOffset })
    else out.push({ kind: 'normal', guestOffset, hostOffset, copied: (high & 0x80000000) !== 0 })
  }
  return out
}
