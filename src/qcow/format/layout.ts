// The layout of a freshly created image: header, refcount table, refcount blocks and L1 table.
import { COMPAT_LAZY_REFCOUNTS, V2_HEADER_LENGTH, V3_HEADER_LENGTH, EXT_FEATURE_TABLE } from './constants.js'
import { encodeFeatureTable, FEATURE_TABLE_MIN_CLUSTER_SIZE, QEMU_FEATURE_NAMES } from './features.js'
import { geometry, l1EntriesFor, type Geometry } from './geometry.js'
import type { ParsedHeader } from './header.js'

/** What `create` writes: cluster indexes of each structure and the header describing them. */
export interface CreateLayout {
  readonly geometry: Geometry
  readonly header: ParsedHeader
  /** First cluster and cluster count of the refcount table, the refcount blocks and the L1 table. */
  readonly reftable: { readonly first: number; readonly count: number }
  readonly refblocks: { readonly first: number; readonly count: number }
  readonly l1: { readonly first: number; readonly count: number }
  /** Clusters in use (all of them with refcount 1): 0 .. totalClusters-1. */
  readonly totalClusters: number
}

/** Parameters of a new image, already validated. */
export interface CreateParameters {
  readonly size: number
  readonly clusterBits: number
  readonly version: 2 | 3
  readonly refcountOrder: number
  readonly lazyRefcounts: boolean
}

/**
 * Lays out a new image like QEMU (header, refcount table, refcount block, L1 at clusters 0..3 for
 * ordinary sizes), adding refcount blocks and table clusters until the structures describe themselves.
 */
export const createLayout = (p: CreateParameters): CreateLayout => {
  const g = geometry(p.clusterBits, p.refcountOrder)
  const l1Entries = l1EntriesFor(g, p.size)
  // A disk of 0 bytes has no L1 table at all (offset 0), as QEMU writes it.
  const l1Clusters = Math.ceil((l1Entries * 8) / g.clusterSize)
  let reftableClusters = 1
  let refblockClusters = 1
  for (;;) {
    const total = 1 + reftableClusters + refblockClusters + l1Clusters
    const blocks = Math.ceil(total / g.refcountsPerBlock)
    const tables = Math.ceil((blocks * 8) / g.clusterSize)
    if (blocks <= refblockClusters && tables <= reftableClusters) break
    refblockClusters = Math.max(refblockClusters, blocks)
    reftableClusters = Math.max(reftableClusters, tables)
  }
  const reftable = { first: 1, count: reftableClusters }
  const refblocks = { first: 1 + reftableClusters, count: refblockClusters }
  const l1 = { first: refblocks.first + refblockClusters, count: l1Clusters }
  const v3 = p.version === 3
  const withTable = v3 && g.clusterSize >= FEATURE_TABLE_MIN_CLUSTER_SIZE
  const header: ParsedHeader = {
    version: p.version,
    clusterBits: p.clusterBits,
    clusterSize: g.clusterSize,
    size: p.size,
    cryptMethod: 0,
    l1Size: l1Entries,
    l1TableOffset: l1Clusters === 0 ? 0 : l1.first * g.clusterSize,
    refcountTableOffset: reftable.first * g.clusterSize,
    refcountTableClusters: reftableClusters,
    nbSnapshots: 0,
    snapshotsOffset: 0,
    backingFileOffset: 0,
    backingFileSize: 0,
    incompatibleFeatures: 0n,
    compatibleFeatures: v3 && p.lazyRefcounts ? 1n << BigInt(COMPAT_LAZY_REFCOUNTS) : 0n,
    autoclearFeatures: 0n,
    refcountOrder: p.refcountOrder,
    refcountBits: g.refcountBits,
    headerLength: v3 ? V3_HEADER_LENGTH : V2_HEADER_LENGTH,
    compressionType: 0,
    featureNames: withTable ? QEMU_FEATURE_NAMES : [],
    unknownExtensions: [],
    unknownHeaderBytes: new Uint8Array(0),
    dirty: false,
    corrupt: false,
    lazyRefcounts: v3 && p.lazyRefcounts,
    extensions: withTable ? [{ type: EXT_FEATURE_TABLE, data: encodeFeatureTable(QEMU_FEATURE_NAMES) }] : [],
  }
  return { geometry: g, header, reftable, refblocks, l1, totalClusters: l1.first + l1Clusters }
}
