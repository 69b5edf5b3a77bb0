// An independent qcow2 consistency checker for tests: walks header, L1, L2 and refcounts of raw image bytes.

/** What `verifyQcow` found. `corruptions` must be empty for a healthy image; leaks are allowed. */
export interface Verification {
  /** Dangling references, refcounts below the reference count, overlaps, bad offsets or flags. */
  readonly corruptions: ReadonlyArray<string>
  /** Clusters whose refcount exceeds their references (allocated but unused, or counted too high). */
  readonly leaks: number
  readonly dirty: boolean
  readonly corruptBit: boolean
  /** Host clusters referenced by the metadata walk. */
  readonly referencedClusters: number
  readonly version: number
  readonly clusterSize: number
  readonly virtualSize: number
}

/** Options of `verifyQcow`. */
export interface VerifyOptions {
  /** Skip the refcount comparison (for a dirty lazy-refcount image, whose refcounts may be stale). */
  readonly skipRefcounts?: boolean
}

type Role = 'header' | 'l1' | 'refcount table' | 'refcount block' | 'l2' | 'data' | 'compressed' | 'snapshot table'

const TWO_32 = 4294967296

class Reader {
  private readonly view: DataView
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  has(offset: number, length: number): boolean {
    return offset >= 0 && offset + length <= this.bytes.byteLength
  }
  u8(offset: number): number {
    return this.has(offset, 1) ? this.view.getUint8(offset) : 0
  }
  u16(offset: number): number {
    return this.has(offset, 2) ? this.view.getUint16(offset) : 0
  }
  u32(offset: number): number {
    return this.has(offset, 4) ? this.view.getUint32(offset) : 0
  }
  /** The 64-bit value as `[high, low]` 32-bit halves. */
  u64(offset: number): [number, number] {
    return [this.u32(offset), this.u32(offset + 4)]
  }
}

/** Bits 9..55 of an entry (`[high, low]`) as a byte offset. */
const offsetBits = (hi: number, lo: number): number => (hi & 0x00ffffff) * TWO_32 + ((lo & 0xfffffe00) >>> 0)

/**
 * Checks the consistency of a qcow2 image given as bytes: the header, every L1 and L2 entry
 * (alignment, reserved bits, targets inside the file), the refcount table and blocks, and that every
 * referenced cluster has a refcount at least its number of references (a reference to a cluster
 * with refcount 0 is dangling), that no cluster serves two roles, and the COPIED flags. Clusters
 * with refcounts above their references are counted as leaks. Snapshots are walked too.
 */
export const verifyQcow = (bytes: Uint8Array, options: VerifyOptions = {}): Verification => {
  const r = new Reader(bytes)
  const corruptions: string[] = []
  const fail = (message: string): Verification => ({
    corruptions: [message],
    leaks: 0,
    dirty: false,
    corruptBit: false,
    referencedClusters: 0,
    version: 0,
    clusterSize: 0,
    virtualSize: 0,
  })
  if (r.u32(0) !== 0x514649fb) return fail('bad magic')
  const version = r.u32(4)
  if (version !== 2 && version !== 3) return fail(`bad version ${version}`)
  const clusterBits = r.u32(20)
  if (clusterBits < 9 || clusterBits > 21) return fail(`bad cluster_bits ${clusterBits}`)
  const cs = 2 ** clusterBits
  const [sizeHi, sizeLo] = r.u64(24)
  const virtualSize = sizeHi * TWO_32 + sizeLo
  const l1Size = r.u32(36)
  const [l1Hi, l1Lo] = r.u64(40)
  const l1Offset = l1Hi * TWO_32 + l1Lo
  const [rtHi, rtLo] = r.u64(48)
  const rtOffset = rtHi * TWO_32 + rtLo
  const rtClusters = r.u32(56)
  const nbSnapshots = r.u32(60)
  const [snHi, snLo] = r.u64(64)
  const snapshotsOffset = snHi * TWO_32 + snLo
  const incompatibleLo = version === 3 ? r.u32(76) : 0
  const refcountOrder = version === 3 ? r.u32(96) : 4
  if (refcountOrder > 6) return fail(`bad refcount_order ${refcountOrder}`)
  const refcountBits = 2 ** refcountOrder
  const dirty = (incompatibleLo & 1) !== 0
  const corruptBit = (incompatibleLo & 2) !== 0
  const l2Entries = cs / 8
  const fileClusters = Math.ceil(bytes.byteLength / cs)
  const needL1 = Math.ceil(virtualSize / (cs * l2Entries))
  if (l1Size < needL1) corruptions.push(`L1 table has ${l1Size} entries, the virtual size needs ${needL1}`)

  const refs = new Map<number, { count: number; role: Role }>()
  const reference = (offset: number, role: Role, what: string): boolean => {
    if (offset % cs !== 0 && role !== 'compressed') {
      corruptions.push(`${what}: offset ${offset} is not cluster aligned`)
      return false
    }
    if (offset >= bytes.byteLength) {
      corruptions.push(`${what}: offset ${offset} points past the end of the image (${bytes.byteLength} bytes)`)
      return false
    }
    const cluster = Math.floor(offset / cs)
    const seen = refs.get(cluster)
    if (seen === undefined) refs.set(cluster, { count: 1, role })
    else {
      if (seen.role !== role && !(seen.role === 'compressed' && role === 'compressed')) {
        corruptions.push(`${what}: cluster ${cluster} is used as both ${seen.role} and ${role}`)
      }
      seen.count++
    }
    return true
  }
  const referenceRange = (offset: number, length: number, role: Role, what: string): boolean => {
    let ok = true
    for (let c = 0; c < Math.ceil(length / cs); c++) ok = reference(offset + c * cs, role, `${what} (cluster ${c})`) && ok
    return ok
  }

  reference(0, 'header', 'header')
  if (rtClusters === 0) corruptions.push('refcount_table_clusters is 0')
  referenceRange(rtOffset, rtClusters * cs, 'refcount table', 'refcount table')
  if (r.has(rtOffset, rtClusters * cs)) {
    for (let i = 0; i < (rtClusters * cs) / 8; i++) {
      const [hi, lo] = r.u64(rtOffset + i * 8)
      if (hi === 0 && lo === 0) continue
      if ((lo & 0x1ff) !== 0) corruptions.push(`refcount table entry ${i} has reserved bits set`)
      reference(hi * TWO_32 + ((lo & 0xfffffe00) >>> 0), 'refcount block', `refcount block ${i}`)
    }
  }

  const refcountOf = (cluster: number): number => {
    const perBlock = (cs * 8) / refcountBits
    const block = Math.floor(cluster / perBlock)
    if (block >= (rtClusters * cs) / 8) return 0
    const [hi, lo] = r.u64(rtOffset + block * 8)
    const blockOffset = hi * TWO_32 + ((lo & 0xfffffe00) >>> 0)
    if (blockOffset === 0 || !r.has(blockOffset, cs)) return 0
    const index = cluster % perBlock
    if (refcountBits < 8) {
      const bit = index * refcountBits
      return (r.u8(blockOffset + (bit >> 3)) >> (bit & 7)) & ((1 << refcountBits) - 1)
    }
    const at = blockOffset + (index * refcountBits) / 8
    if (refcountBits === 8) return r.u8(at)
    if (refcountBits === 16) return r.u16(at)
    if (refcountBits === 32) return r.u32(at)
    const [h, l] = r.u64(at)
    return h * TWO_32 + l
  }

  /** Clusters whose COPIED flag must be checked once refcounts are known: [cluster, copied, what]. */
  const copiedChecks: Array<[number, boolean, string]> = []

  const walkL1 = (offset: number, entries: number, label: string): void => {
    if (!referenceRange(offset, entries * 8, 'l1', `${label} L1 table`)) return
    for (let i = 0; i < entries; i++) {
      const [hi, lo] = r.u64(offset + i * 8)
      if (hi === 0 && lo === 0) continue
      if ((lo & 0x1ff) !== 0 || (hi & 0x7f000000) !== 0) corruptions.push(`${label} L1[${i}] has reserved bits set`)
      const l2 = offsetBits(hi, lo)
      if (l2 === 0) continue
      if (!reference(l2, 'l2', `${label} L1[${i}]`)) continue
      copiedChecks.push([l2 / cs, (hi & 0x80000000) !== 0, `${label} L1[${i}]`])
      walkL2(l2, `${label} L2 of L1[${i}]`)
    }
  }

  const walkL2 = (offset: number, label: string): void => {
    const x = 62 - (clusterBits - 8)
    for (let j = 0; j < l2Entries; j++) {
      const [hi, lo] = r.u64(offset + j * 8)
      if (hi === 0 && lo === 0) continue
      if ((hi & 0x40000000) !== 0) {
        const low = (hi & 0x3fffffff) * TWO_32 + lo
        const hostOffset = low % 2 ** x
        const sectors = Math.floor(low / 2 ** x) + 1
        const end = hostOffset - (hostOffset % 512) + sectors * 512
        if ((hi & 0x80000000) !== 0) corruptions.push(`${label}[${j}]: COPIED set on a compressed cluster`)
        for (let c = Math.floor(hostOffset / cs); c * cs < end; c++) reference(c * cs, 'compressed', `${label}[${j}] compressed data`)
        continue
      }
      if ((lo & 0x1fe) !== 0 || (hi & 0x3f000000) !== 0) corruptions.push(`${label}[${j}] has reserved bits set`)
      if ((lo & 1) !== 0 && version === 2) corruptions.push(`${label}[${j}]: ZERO flag in a version 2 image`)
      const data = offsetBits(hi, lo)
      if (data === 0) {
        if ((hi & 0x80000000) !== 0) corruptions.push(`${label}[${j}]: COPIED set on an unallocated cluster`)
        continue
      }
      if (reference(data, 'data', `${label}[${j}]`)) copiedChecks.push([data / cs, (hi & 0x80000000) !== 0, `${label}[${j}]`])
    }
  }

  walkL1(l1Offset, l1Size, 'active')

  if (nbSnapshots > 0) {
    let at = snapshotsOffset
    for (let s = 0; s < nbSnapshots && r.has(at, 40); s++) {
      const [sHi, sLo] = r.u64(at)
      const entries = r.u32(at + 8)
      const idLen = r.u16(at + 12)
      const nameLen = r.u16(at + 14)
      const extra = r.u32(at + 36)
      walkL1(sHi * TWO_32 + sLo, entries, `snapshot ${s}`)
      at += Math.ceil((40 + extra + idLen + nameLen) / 8) * 8
    }
    referenceRange(snapshotsOffset, at - snapshotsOffset, 'snapshot table', 'snapshot table')
  }

  let leaks = 0
  if (options.skipRefcounts !== true) {
    for (const [cluster, { count, role }] of refs) {
      const refcount = refcountOf(cluster)
      if (refcount === 0) corruptions.push(`cluster ${cluster} (${role}) is referenced ${count} time(s) but its refcount is 0`)
      else if (refcount < count) corruptions.push(`cluster ${cluster} (${role}) has refcount ${refcount} below its ${count} reference(s)`)
      else if (refcount > count) leaks++
    }
    for (let cluster = 0; cluster < fileClusters; cluster++) {
      if (!refs.has(cluster) && refcountOf(cluster) > 0) leaks++
    }
    if (nbSnapshots === 0) {
      for (const [cluster, copied, what] of copiedChecks) {
        const refcount = refcountOf(cluster)
        if (copied !== (refcount === 1)) corruptions.push(`${what}: COPIED is ${copied} but the refcount is ${refcount}`)
      }
    }
  }

  return { corruptions, leaks, dirty, corruptBit, referencedClusters: refs.size, version, clusterSize: cs, virtualSize }
}
