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
  | {
      readonly kind: 'compressed'
      readonly guestOffset: number
      readonly hostOffset: number
      readonly maxBytes: number
      /** File offset of the 64-bit L2 entry itself. */
      readonly entryAt: number
    }

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

/**
 * Sets the additional-sectors field of the compressed L2 entry at `entryAt` to its maximum (as older
 * QEMU could write, iotest 214), so the descriptor claims more bytes than the stream needs.
 */
export const maximiseCompressedSize = (bytes: Uint8Array, entryAt: number): void => {
  const h = layoutHeader(bytes)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const x = 62 - (h.clusterBits - 8)
  const fieldMask = (2 ** (h.clusterBits - 8) - 1) * 2 ** (x - 32)
  view.setUint32(entryAt, (view.getUint32(entryAt) | fieldMask) >>> 0)
}

/** Points the L2 entry at `entryAt` at `length` compressed bytes stored at file offset `hostOffset`. */
export const setCompressedEntry = (bytes: Uint8Array, entryAt: number, hostOffset: number, length: number): void => {
  const h = layoutHeader(bytes)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const x = 62 - (h.clusterBits - 8)
  const extraSectors = Math.ceil(((hostOffset % 512) + length) / 512) - 1
  const high = 0x40000000 + extraSectors * 2 ** (x - 32) + Math.floor(hostOffset / 2 ** 32)
  view.setUint32(entryAt, high >>> 0)
  view.setUint32(entryAt + 4, hostOffset % 2 ** 32)
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
      out.push({ kind: 'compressed', guestOffset, hostOffset, maxBytes: sectors * 512 - (hostOffset % 512), entryAt: at })
      continue
    }
    const hostOffset = offsetBits(high, low)
    if (low & 1) out.push({ kind: 'zero', guestOffset, hostOffset })
    else if (hostOffset === 0) out.push({ kind: 'unallocated', guestOffset })
    else out.push({ kind: 'normal', guestOffset, hostOffset, copied: (high & 0x80000000) !== 0 })
  }
  return out
}

/** The raw header fields that describe an image's format choices (not where its tables are). */
export interface HeaderFields {
  readonly version: number
  readonly clusterBits: number
  readonly size: number
  readonly cryptMethod: number
  readonly l1Size: number
  readonly refcountTableClusters: number
  readonly nbSnapshots: number
  readonly incompatible: string
  readonly compatible: string
  readonly autoclear: string
  readonly refcountOrder: number
  readonly headerLength: number
  readonly compressionType: number
}

/** Reads the format-describing header fields (64-bit feature masks as hex strings). */
export const headerFields = (bytes: Uint8Array): HeaderFields => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint32(4)
  const hex64 = (at: number): string => view.getUint32(at).toString(16).padStart(8, '0') + view.getUint32(at + 4).toString(16).padStart(8, '0')
  const headerLength = version >= 3 ? view.getUint32(100) : 72
  return {
    version,
    clusterBits: view.getUint32(20),
    size: u64(view, 24),
    cryptMethod: view.getUint32(32),
    l1Size: view.getUint32(36),
    refcountTableClusters: view.getUint32(56),
    nbSnapshots: view.getUint32(60),
    incompatible: version >= 3 ? hex64(72) : '',
    compatible: version >= 3 ? hex64(80) : '',
    autoclear: version >= 3 ? hex64(88) : '',
    refcountOrder: version >= 3 ? view.getUint32(96) : 4,
    headerLength,
    compressionType: headerLength > 104 ? bytes[104]! : 0,
  }
}

/** The header extensions in order, each as its type and data (padding dropped), up to the end marker. */
export const headerExtensions = (bytes: Uint8Array): { type: number; data: Uint8Array }[] => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const h = headerFields(bytes)
  const out: { type: number; data: Uint8Array }[] = []
  let at = h.headerLength
  while (at + 8 <= 2 ** h.clusterBits) {
    const type = view.getUint32(at)
    const length = view.getUint32(at + 4)
    if (type === 0) break
    out.push({ type, data: bytes.slice(at + 8, at + 8 + length) })
    at += 8 + Math.ceil(length / 8) * 8
  }
  return out
}
