// The host clusters holding active metadata, built once and then kept current from the L1 and refcount table change logs.
import type { Image } from '../image.js'
import { readSnapshots } from '../io/metadata-read.js'
import { l1EntryTarget, type L1Table } from '../map/l1-table.js'

/** Host cluster -> the metadata structures stored there (more than one only on a corrupt image). */
export type Owners = Map<number, string[]>

const l2Name = (l1Index: number): string => `L2 table of L1 entry ${l1Index}`
const blockName = (reftableIndex: number): string => `refcount block ${reftableIndex}`

/** Records `what` over host bytes `[offset, offset + bytes)`; returns a description of each clash with an earlier owner. */
export const addRange = (owners: Owners, cs: number, offset: number, bytes: number, what: string): string[] => {
  const clashes: string[] = []
  if (bytes <= 0) return clashes
  const last = Math.floor((offset + bytes - 1) / cs)
  for (let c = Math.floor(offset / cs); c <= last; c++) {
    const there = owners.get(c)
    if (there === undefined) owners.set(c, [what])
    else {
      clashes.push(`host cluster ${c} holds both the ${there[0]} and the ${what}`)
      there.push(what)
    }
  }
  return clashes
}

/** Forgets `what` at host cluster `cluster`. */
const removeOwner = (owners: Owners, cluster: number, what: string): void => {
  const there = owners.get(cluster)
  if (there === undefined) return
  const at = there.indexOf(what)
  if (at < 0) return
  if (there.length === 1) owners.delete(cluster)
  else there.splice(at, 1)
}

/** The metadata index of one image, and what it was built from. */
export interface MetadataIndex {
  readonly owners: Owners
  readonly l1: L1Table
  readonly reftableOffset: number
  readonly reftableClusters: number
  readonly snapshotsOffset: number
  readonly nbSnapshots: number
  /** L2 table offset per L1 index, as indexed (absent: none). */
  readonly l2: Map<number, number>
  /** Refcount block offset per refcount table index, as indexed (absent: none). */
  readonly blocks: Map<number, number>
}

const indexes = new WeakMap<Image, MetadataIndex>()

/**
 * The clusters of the active metadata (header, L1 table, refcount table and blocks, active L2 tables,
 * snapshot table and snapshot L1 tables) and the overlaps found among them, read afresh; the result
 * becomes the image's current index. Invalid table entries abort as Corrupt.
 */
export const activeMetadata = async (img: Image): Promise<{ index: MetadataIndex; clashes: string[] }> => {
  const h = img.header
  const snapshots = h.nbSnapshots > 0 ? await readSnapshots(img.io, h) : undefined
  // Everything below runs without a pause: changes noted from here on are applied by `metadataOf`.
  indexes.delete(img)
  img.l1.changes.drain()
  img.refcounts.changes.drain()
  const cs = img.g.clusterSize
  const rc = img.refcounts
  const owners: Owners = new Map()
  const index: MetadataIndex = {
    owners,
    l1: img.l1,
    reftableOffset: rc.tableOffset,
    reftableClusters: rc.tableClusters,
    snapshotsOffset: h.snapshotsOffset,
    nbSnapshots: h.nbSnapshots,
    l2: new Map(),
    blocks: new Map(),
  }
  const clashes = addRange(owners, cs, 0, cs, 'header')
  clashes.push(...addRange(owners, cs, img.l1.offset, img.l1.size * 8, 'active L1 table'))
  clashes.push(...addRange(owners, cs, rc.tableOffset, rc.tableClusters * cs, 'refcount table'))
  for (let i = 0; i < rc.tableEntries; i++) {
    const offset = rc.blockOffset(i)
    if (typeof offset !== 'number') return offset
    if (offset === 0) continue
    index.blocks.set(i, offset)
    clashes.push(...addRange(owners, cs, offset, cs, blockName(i)))
  }
  for (let i = 0; i < img.l1.size; i++) {
    const target = l1EntryTarget(img.l1.hi(i), img.l1.lo(i), cs, img.io.sizeBytes)
    if (typeof target === 'string') return img.corrupt(target)
    if (target === 0) continue
    index.l2.set(i, target)
    clashes.push(...addRange(owners, cs, target, cs, l2Name(i)))
  }
  if (snapshots !== undefined) {
    clashes.push(...addRange(owners, cs, h.snapshotsOffset, snapshots.tableBytes, 'snapshot table'))
    snapshots.snapshots.forEach((s, i) => clashes.push(...addRange(owners, cs, s.l1TableOffset, s.l1Size * 8, `L1 table of snapshot ${i}`)))
  }
  indexes.set(img, index)
  return { index, clashes }
}

/** Moves entry `i` of `recorded` to `target` in the index. */
const move = (owners: Owners, cs: number, recorded: Map<number, number>, i: number, target: number, name: string): void => {
  const before = recorded.get(i) ?? 0
  if (before === target) return
  if (before !== 0) removeOwner(owners, before / cs, name)
  if (target === 0) recorded.delete(i)
  else {
    recorded.set(i, target)
    addRange(owners, cs, target, cs, name)
  }
}

/** Applies the noted L1 and refcount table changes; false when a log lost track (rebuild instead). */
const applyChanges = (img: Image, index: MetadataIndex): boolean | Promise<never> => {
  const cs = img.g.clusterSize
  const l1Changes = img.l1.changes.drain()
  const blockChanges = img.refcounts.changes.drain()
  if (l1Changes === undefined || blockChanges === undefined) return false
  for (const i of l1Changes) {
    const target = i < img.l1.size ? l1EntryTarget(img.l1.hi(i), img.l1.lo(i), cs, img.io.sizeBytes) : 0
    if (typeof target === 'string') return img.corrupt(target)
    move(index.owners, cs, index.l2, i, target, l2Name(i))
  }
  for (const i of blockChanges) {
    const offset = img.refcounts.blockOffset(i)
    if (typeof offset !== 'number') return offset
    move(index.owners, cs, index.blocks, i, offset, blockName(i))
  }
  return true
}

const rebuild = async (img: Image): Promise<Owners> => (await activeMetadata(img)).index.owners

/**
 * The metadata clusters of `img`, without a pause when the index is current (the common case, once
 * per data write). L2 tables and refcount blocks that appeared or moved are applied one by one; a
 * moved L1 or refcount table, or changed snapshots, rebuild the index.
 */
export const metadataOf = (img: Image): Owners | Promise<Owners> => {
  const index = indexes.get(img)
  const h = img.header
  const rc = img.refcounts
  if (
    index === undefined ||
    index.l1 !== img.l1 ||
    index.reftableOffset !== rc.tableOffset ||
    index.reftableClusters !== rc.tableClusters ||
    index.snapshotsOffset !== h.snapshotsOffset ||
    index.nbSnapshots !== h.nbSnapshots
  ) {
    return rebuild(img)
  }
  if (img.l1.changes.empty && rc.changes.empty) return index.owners
  const applied = applyChanges(img, index)
  if (applied === true) return index.owners
  indexes.delete(img)
  return applied === false ? rebuild(img) : applied
}
