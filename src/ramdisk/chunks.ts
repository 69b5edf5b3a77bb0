// The sparse chunk store behind RamDisk: fixed-size chunks by index, carved from larger slabs in the order they are first written.

/** Chunks per slab: memory is taken from the system 16 chunks at a time (fewer, larger allocations). */
const SLAB_CHUNKS = 16

/** A block of memory holding up to SLAB_CHUNKS chunks. */
interface Slab {
  readonly bytes: Uint8Array
  /** Chunks of this slab in use. */
  live: number
  /** Slots of this slab not in use. */
  readonly free: number[]
}

/** A chunk in use, and where its memory comes from. */
interface Chunk {
  readonly bytes: Uint8Array
  readonly slab: Slab
  readonly slot: number
}

/**
 * Chunks of `chunkBytes` by index, zero-filled when first taken. A slab whose chunks are all
 * released goes back to the system, so memory still follows what is written and later discarded.
 */
export class ChunkStore {
  private readonly chunks = new Map<number, Chunk>()
  /** Slabs with a free slot, the one handed out from last. */
  private readonly open: Slab[] = []

  constructor(private readonly chunkBytes: number) {}

  /** Number of chunks in use. */
  get size(): number {
    return this.chunks.size
  }

  /** The chunk at `index`, or undefined when it was never written (reads as zeroes). */
  get(index: number): Uint8Array | undefined {
    return this.chunks.get(index)?.bytes
  }

  /** The chunk at `index`, taking a zeroed one when absent. */
  take(index: number): Uint8Array {
    const held = this.chunks.get(index)
    if (held !== undefined) return held.bytes
    let slab = this.open[this.open.length - 1]
    if (slab === undefined) {
      slab = { bytes: new Uint8Array(this.chunkBytes * SLAB_CHUNKS), live: 0, free: [] }
      for (let slot = SLAB_CHUNKS - 1; slot >= 0; slot--) slab.free.push(slot)
      this.open.push(slab)
    }
    const slot = slab.free.pop() as number
    if (slab.free.length === 0) this.open.pop()
    slab.live++
    const bytes = slab.bytes.subarray(slot * this.chunkBytes, (slot + 1) * this.chunkBytes)
    this.chunks.set(index, { bytes, slab, slot })
    return bytes
  }

  /** Releases the chunk at `index` (it reads as zeroes again). */
  release(index: number): void {
    const chunk = this.chunks.get(index)
    if (chunk === undefined) return
    this.chunks.delete(index)
    const slab = chunk.slab
    slab.live--
    if (slab.live === 0) {
      // Nothing of the slab is in use: let the system have it back.
      const at = this.open.indexOf(slab)
      if (at >= 0) this.open.splice(at, 1)
      return
    }
    chunk.bytes.fill(0)
    if (slab.free.length === 0) this.open.push(slab)
    slab.free.push(chunk.slot)
  }

  /** True when the chunk at `index` is in use. */
  has(index: number): boolean {
    return this.chunks.has(index)
  }

  /** The indices of the chunks in use (do not release chunks while iterating). */
  keys(): IterableIterator<number> {
    return this.chunks.keys()
  }

  /** Releases every chunk. */
  clear(): void {
    this.chunks.clear()
    this.open.length = 0
  }
}
