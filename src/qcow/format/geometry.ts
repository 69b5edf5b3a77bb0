// Address splitting: the sizes derived from cluster_bits and refcount_order, and guest/host arithmetic.

/** Every size derived from an image's cluster_bits and refcount_order. */
export interface Geometry {
  readonly clusterBits: number
  /** Bytes per cluster. */
  readonly clusterSize: number
  /** Entries per L2 table (clusterSize / 8). */
  readonly l2Entries: number
  /** Guest bytes mapped by one L2 table. */
  readonly l2Coverage: number
  /** Bits per refcount (1 << refcount_order). */
  readonly refcountBits: number
  readonly refcountOrder: number
  /** Refcount entries per refcount block. */
  readonly refcountsPerBlock: number
  /** Refcount table entries per cluster (clusterSize / 8). */
  readonly reftableEntriesPerCluster: number
  /** Largest refcount value the width can hold (capped at 2^53 - 1 for 64-bit refcounts). */
  readonly maxRefcount: number
}

/** Derives the geometry of an image. */
export const geometry = (clusterBits: number, refcountOrder: number): Geometry => {
  const clusterSize = 2 ** clusterBits
  const l2Entries = clusterSize / 8
  const refcountBits = 2 ** refcountOrder
  return {
    clusterBits,
    clusterSize,
    l2Entries,
    l2Coverage: l2Entries * clusterSize,
    refcountBits,
    refcountOrder,
    refcountsPerBlock: (clusterSize * 8) / refcountBits,
    reftableEntriesPerCluster: clusterSize / 8,
    maxRefcount: refcountBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** refcountBits - 1,
  }
}

/** The number of L1 entries needed to map `sizeBytes` guest bytes. */
export const l1EntriesFor = (g: Geometry, sizeBytes: number): number => Math.ceil(sizeBytes / g.l2Coverage)

