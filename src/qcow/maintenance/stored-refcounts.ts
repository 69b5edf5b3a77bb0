// Refcounts as a check reads them: straight from the device's refcount blocks, past the engine's caches.
import { reftableEntryOffset } from '../format/entries.js'
import { getRefcount } from '../format/refcount-block.js'
import type { Image } from '../image.js'
import { readBytes } from '../io/metadata-read.js'

/** Refcount blocks kept while checking. */
const BLOCK_CACHE = 64

/** A stored refcount block: its bytes, 'zero' when absent (all refcounts 0) or 'error' when its reftable entry is unaligned. */
export type StoredBlock = Uint8Array | 'zero' | 'error'

/** Refcounts as stored on the device, read past the engine's caches so a check changes nothing. */
export class StoredRefcounts {
  private readonly blocks = new Map<number, StoredBlock>()

  constructor(
    private readonly img: Image,
    private readonly reftable: DataView,
  ) {}

  /** Refcount block `index`. */
  async block(index: number): Promise<StoredBlock> {
    const hit = this.blocks.get(index)
    if (hit !== undefined) return hit
    let found: StoredBlock = 'zero'
    if (index < this.reftable.byteLength / 8) {
      const offset = reftableEntryOffset(this.reftable, index)
      if (offset % this.img.g.clusterSize !== 0) found = 'error'
      else if (offset !== 0) found = await readBytes(this.img.io, offset, this.img.g.clusterSize)
    }
    if (this.blocks.size >= BLOCK_CACHE) this.blocks.delete(this.blocks.keys().next().value as number)
    this.blocks.set(index, found)
    return found
  }

  /** The stored refcount of cluster `cluster`, or undefined when it cannot be read. */
  async get(cluster: number): Promise<number | undefined> {
    const index = Math.floor(cluster / this.img.g.refcountsPerBlock)
    const block = await this.block(index)
    return block === 'error' ? undefined : new BlockReader(this.img, block).get(cluster - index * this.img.g.refcountsPerBlock)
  }
}

/** Reads refcounts out of one readable stored block. */
export class BlockReader {
  private readonly order: number
  private readonly view: DataView | undefined

  constructor(
    img: Image,
    private readonly block: Uint8Array | 'zero',
  ) {
    this.order = img.g.refcountOrder
    this.view = block === 'zero' ? undefined : new DataView(block.buffer, block.byteOffset, block.byteLength)
  }

  /** Refcount `index` of the block. */
  get(index: number): number {
    return this.block === 'zero' || this.view === undefined ? 0 : getRefcount(this.block, this.view, this.order, index)
  }
}
