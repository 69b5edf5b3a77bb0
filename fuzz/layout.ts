// A tolerant map of a qcow2 image's structures for the fuzzer: where each field lies and what it means.
// It never trusts the image: every offset is bounds-checked and every walk is capped, so it works on seeds
// and on already-mutated images alike.

/** What a field holds, so the mutator can pick values aimed at it. */
export type FieldKind =
  | 'header'
  | 'headerOffset'
  | 'extType'
  | 'extLength'
  | 'extData'
  | 'featureEntry'
  | 'backingName'
  | 'l1'
  | 'l2'
  | 'reftable'
  | 'refblock'
  | 'snapshotField'
  | 'snapshotOffset'
  | 'snapshotLength'
  | 'snapshotName'
  | 'snapshotL1'

/** One field of the image: `width` big-endian bytes at `at`. */
export interface Field {
  readonly at: number
  readonly width: 1 | 2 | 4 | 8
  readonly kind: FieldKind
}

/** The fields found and the host offsets of the structures (targets for offsets pointing at the wrong thing). */
export interface Layout {
  readonly fields: ReadonlyArray<Field>
  readonly structures: ReadonlyArray<number>
  readonly clusterSize: number
}

const MAX_FIELDS = 20_000
const OFFSET_MASK = 0x00fffffffffffe00n

const u16 = (b: Uint8Array, at: number): number => (at + 2 <= b.length ? (b[at] << 8) | b[at + 1] : 0)
const u32 = (b: Uint8Array, at: number): number => (at + 4 <= b.length ? new DataView(b.buffer, b.byteOffset).getUint32(at) : 0)
const u64 = (b: Uint8Array, at: number): bigint => (at + 8 <= b.length ? new DataView(b.buffer, b.byteOffset).getBigUint64(at) : 0n)
const small = (v: bigint): number => (v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v))

/** Maps the structures of `image` (any bytes; unknown parts are simply left out). */
export const layoutOf = (image: Uint8Array): Layout => {
  const fields: Field[] = []
  const structures: number[] = [0]
  const add = (at: number, width: 1 | 2 | 4 | 8, kind: FieldKind): void => {
    if (fields.length < MAX_FIELDS && at >= 0 && at + width <= image.length) fields.push({ at, width, kind })
  }
  const inside = (offset: number, bytes: number): boolean => offset > 0 && offset + bytes <= image.length
  const header: Array<[number, 1 | 2 | 4 | 8, FieldKind]> = [
    [0, 4, 'header'], [4, 4, 'header'], [8, 8, 'headerOffset'], [16, 4, 'header'], [20, 4, 'header'], [24, 8, 'header'],
    [32, 4, 'header'], [36, 4, 'header'], [40, 8, 'headerOffset'], [48, 8, 'headerOffset'], [56, 4, 'header'],
    [60, 4, 'header'], [64, 8, 'headerOffset'], [72, 8, 'header'], [80, 8, 'header'], [88, 8, 'header'],
    [96, 4, 'header'], [100, 4, 'header'], [104, 1, 'header'],
  ]
  const version = u32(image, 4)
  for (const [at, width, kind] of header) if (version >= 3 || at < 72) add(at, width, kind)
  const clusterBits = u32(image, 20)
  const clusterSize = clusterBits >= 9 && clusterBits <= 21 ? 2 ** clusterBits : 65536
  // Header extensions.
  let ext = version >= 3 ? u32(image, 100) : 72
  for (let n = 0; n < 16 && ext + 8 <= Math.min(image.length, clusterSize); n++) {
    const type = u32(image, ext)
    const length = u32(image, ext + 4)
    add(ext, 4, 'extType')
    add(ext + 4, 4, 'extLength')
    if (type === 0) break
    if (type === 0x6803f857) for (let e = ext + 8; e + 48 <= ext + 8 + length && e + 48 <= image.length; e += 48) {
      add(e, 1, 'featureEntry')
      add(e + 1, 1, 'featureEntry')
      add(e + 2, 1, 'featureEntry')
    }
    else for (let i = 0; i < Math.min(length, 64); i += 4) add(ext + 8 + i, 4, 'extData')
    ext += 8 + Math.ceil(length / 8) * 8
  }
  const backingOffset = small(u64(image, 8))
  const backingSize = u32(image, 16)
  if (inside(backingOffset, 1)) for (let i = 0; i < Math.min(backingSize, 32); i++) add(backingOffset + i, 1, 'backingName')
  // L1 and L2 tables.
  const l2Tables = new Set<number>()
  const addL1 = (l1Offset: number, l1Size: number, kind: 'l1' | 'snapshotL1'): void => {
    if (!inside(l1Offset, 8)) return
    structures.push(l1Offset)
    for (let i = 0; i < Math.min(l1Size, 4096); i++) {
      const at = l1Offset + i * 8
      const entry = u64(image, at)
      if (entry !== 0n || i < 4) add(at, 8, kind)
      const l2 = small(entry & OFFSET_MASK)
      if (l2 > 0 && inside(l2, clusterSize)) l2Tables.add(l2)
    }
  }
  addL1(small(u64(image, 40)), u32(image, 36), 'l1')
  // Snapshot table.
  const snapshots = u32(image, 60)
  let snap = small(u64(image, 64))
  for (let n = 0; n < Math.min(snapshots, 64) && inside(snap, 40); n++) {
    structures.push(snap)
    add(snap, 8, 'snapshotOffset')
    add(snap + 8, 4, 'snapshotLength')
    add(snap + 12, 2, 'snapshotLength')
    add(snap + 14, 2, 'snapshotLength')
    for (const at of [16, 20, 24]) add(snap + at, at === 24 ? 8 : 4, 'snapshotField')
    add(snap + 32, 4, 'snapshotLength')
    add(snap + 36, 4, 'snapshotLength')
    const extra = u32(image, snap + 36)
    for (let i = 0; i < Math.min(extra, 24); i += 8) add(snap + 40 + i, 8, i === 8 ? 'snapshotLength' : 'snapshotField')
    const idLength = u16(image, snap + 12)
    const nameLength = u16(image, snap + 14)
    const names = snap + 40 + extra
    for (let i = 0; i < Math.min(idLength + nameLength, 16); i++) add(names + i, 1, 'snapshotName')
    addL1(small(u64(image, snap)), u32(image, snap + 8), 'snapshotL1')
    snap = names + idLength + nameLength
    snap = Math.ceil(snap / 8) * 8
  }
  for (const l2 of l2Tables) {
    structures.push(l2)
    for (let i = 0; i < clusterSize / 8; i++) {
      const at = l2 + i * 8
      if (u64(image, at) !== 0n || i % 64 === 0) add(at, 8, 'l2')
    }
  }
  // Refcount table and blocks.
  const reftable = small(u64(image, 48))
  const reftableClusters = u32(image, 56)
  const refcountOrder = version >= 3 ? u32(image, 96) : 4
  if (inside(reftable, 8)) {
    structures.push(reftable)
    for (let i = 0; i < Math.min((reftableClusters * clusterSize) / 8, 8192); i++) {
      const at = reftable + i * 8
      const entry = u64(image, at)
      if (entry === 0n && i > 2) continue
      add(at, 8, 'reftable')
      const block = small(entry & OFFSET_MASK)
      if (!inside(block, clusterSize)) continue
      structures.push(block)
      const width = refcountOrder >= 3 && refcountOrder <= 6 ? ((2 ** refcountOrder) / 8) as 1 | 2 | 4 | 8 : 1
      for (let j = 0; j < Math.min(clusterSize / width, 512); j++) add(block + j * width, width, 'refblock')
    }
  }
  return { fields, structures, clusterSize }
}
