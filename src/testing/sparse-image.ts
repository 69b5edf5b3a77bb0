// SparseImage: an immutable-by-sharing, chunked sector image; cloning is cheap and chunks are copied on write.

/** Bytes per chunk for a sector size: about 4 KiB, always whole sectors. */
const chunkSectorsFor = (sectorSize: number): number => Math.max(1, Math.floor(4096 / sectorSize))

/**
 * Sector contents kept as a map of fixed-size chunks; absent chunks read as zeroes. `clone` shares
 * every chunk, and a chunk is copied before it is first changed in a clone that does not own it,
 * so thousands of slightly different images cost little more than their differences.
 */
export class SparseImage {
  /** Sectors per chunk. */
  readonly chunkSectors: number
  private readonly owned = new Set<number>()

  private constructor(
    readonly sectorSize: number,
    private readonly chunks: Map<number, Uint8Array>,
  ) {
    this.chunkSectors = chunkSectorsFor(sectorSize)
  }

  /** An all-zero image. */
  static empty(sectorSize: number): SparseImage {
    return new SparseImage(sectorSize, new Map())
  }

  /** A copy sharing every chunk with this image (both copy a shared chunk before changing it). */
  clone(): SparseImage {
    this.owned.clear()
    return new SparseImage(this.sectorSize, new Map(this.chunks))
  }

  /** Bytes held in chunks (memory cost, shared chunks included). */
  heldBytes(): number {
    return this.chunks.size * this.chunkSectors * this.sectorSize
  }

  /** Writes `data` (whole sectors, or `null` for zeroes over `sectors` sectors) at `sector`. */
  write(sector: number, sectors: number, data: Uint8Array | null): void {
    const size = this.sectorSize
    let done = 0
    while (done < sectors) {
      const at = sector + done
      const index = Math.floor(at / this.chunkSectors)
      const within = at - index * this.chunkSectors
      const n = Math.min(this.chunkSectors - within, sectors - done)
      if (data === null) {
        if (this.chunks.has(index)) this.writable(index).fill(0, within * size, (within + n) * size)
      } else {
        this.writable(index).set(data.subarray(done * size, (done + n) * size), within * size)
      }
      done += n
    }
  }

  /** Copies `sectors` sectors from `sector` into `target` at byte `offset`. */
  readInto(sector: number, sectors: number, target: Uint8Array, offset = 0): void {
    const size = this.sectorSize
    let done = 0
    while (done < sectors) {
      const at = sector + done
      const index = Math.floor(at / this.chunkSectors)
      const within = at - index * this.chunkSectors
      const n = Math.min(this.chunkSectors - within, sectors - done)
      const chunk = this.chunks.get(index)
      const to = offset + done * size
      if (chunk === undefined) target.fill(0, to, to + n * size)
      else target.set(chunk.subarray(within * size, (within + n) * size), to)
      done += n
    }
  }

  /** Calls `visit(firstSector, bytes)` for every held chunk below `limitSectors`, in no particular order. */
  forEachChunk(limitSectors: number, visit: (firstSector: number, bytes: Uint8Array) => void): void {
    for (const [index, chunk] of this.chunks) {
      const first = index * this.chunkSectors
      if (first >= limitSectors) continue
      const n = Math.min(this.chunkSectors, limitSectors - first)
      visit(first, chunk.subarray(0, n * this.sectorSize))
    }
  }

  private writable(index: number): Uint8Array {
    const chunk = this.chunks.get(index)
    if (chunk !== undefined && this.owned.has(index)) return chunk
    const copy = new Uint8Array(this.chunkSectors * this.sectorSize)
    if (chunk !== undefined) copy.set(chunk)
    this.chunks.set(index, copy)
    this.owned.add(index)
    return copy
  }
}
