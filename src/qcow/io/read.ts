// The read path: guest range -> L2 lookups -> one base request per host-contiguous run, zeroes, or decompression.
import { sliceBuffers, zeroFill, scatter } from '../../block/buffers.js'
import type { CachedTable } from '../cache/table-cache.js'
import { COMPRESSED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForRead } from '../map/l2-tables.js'
import { readCompressedCluster } from './compressed.js'
import { readUnallocated } from './unallocated.js'

/** Bytes `[at, at + length)` of a buffer list as views; the one-buffer case (the common one) allocates one view. */
export const region = (buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Uint8Array[] =>
  buffers.length === 1 ? [buffers[0].subarray(at, at + length)] : sliceBuffers(buffers, at, length)

/** Reads host bytes `[host, host + length)` into bytes `[at, at + length)` of `buffers`; past the device end reads zeroes. */
const readHost = (img: Image, host: number, buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Promise<void> | undefined => {
  const inside = Math.max(0, Math.min(length, img.io.sizeBytes - host))
  if (inside < length) zeroFill(buffers, at + inside, length - inside)
  return inside > 0 ? img.io.readv(host, region(buffers, at, inside)) : undefined
}

const ignore = (): void => undefined
const RESOLVED: Promise<void> = Promise.resolve()

/** How a run of clusters is served. */
const enum Run {
  None,
  Unallocated,
  Data,
  Zero,
}

/**
 * One guest read: walks the L2 tables of the range, starting one read per run of clusters served the
 * same way (data runs are contiguous on the host). The walk goes on without a pause while the tables
 * are cached; it pauses only to load one.
 */
class GuestRead {
  /** Reads started; once the walk has paused, each is marked handled (one may fail while the walk waits). */
  private readonly started: Promise<void>[] = []
  private paused = false
  private runKind = Run.None
  private runHost = 0
  private runAt = 0
  private runLength = 0

  constructor(
    private readonly img: Image,
    private readonly offset: number,
    private readonly buffers: ReadonlyArray<Uint8Array>,
    private readonly length: number,
  ) {}

  /** Walks from byte `pos` of the request; a promise when it had to pause. */
  walk(pos: number): Promise<void> | undefined {
    const { l2Coverage } = this.img.g
    while (pos < this.length) {
      const guest = this.offset + pos
      const l1Index = Math.floor(guest / l2Coverage)
      const chunkEnd = Math.min(this.length, (l1Index + 1) * l2Coverage - this.offset)
      const found = l2ForRead(this.img, l1Index)
      if (found instanceof Promise) return this.resume(found, pos, chunkEnd)
      const stopped = this.chunk(found, pos, chunkEnd)
      if (stopped !== undefined) return this.pause(stopped)
      pos = chunkEnd
    }
    return undefined
  }

  private async resume(found: Promise<CachedTable | undefined>, pos: number, chunkEnd: number): Promise<void> {
    this.pauseMarks()
    const stopped = this.chunk(await found, pos, chunkEnd)
    if (stopped !== undefined) await stopped
    const rest = this.walk(chunkEnd)
    if (rest !== undefined) await rest
  }

  private pause(stopped: Promise<never>): Promise<never> {
    this.pauseMarks()
    return stopped
  }

  private pauseMarks(): void {
    if (this.paused) return
    this.paused = true
    for (const read of this.started) read.catch(ignore)
  }

  private add(read: Promise<void> | undefined): void {
    if (read === undefined) return
    if (this.paused) read.catch(ignore)
    this.started.push(read)
  }

  /** Serves bytes `[pos, chunkEnd)` of the request, inside one L2 table's range; a rejected promise on corruption. */
  private chunk(table: CachedTable | undefined, pos: number, chunkEnd: number): Promise<never> | undefined {
    const img = this.img
    if (table === undefined) {
      this.add(readUnallocated(img.lower, this.offset + pos, this.buffers, pos, chunkEnd - pos))
      return undefined
    }
    try {
      const { clusterSize, l2Entries } = img.g
      const view = table.view
      let slot = Math.floor((this.offset + pos) / clusterSize) % l2Entries
      this.runKind = Run.None
      this.runLength = 0
      while (pos < chunkEnd) {
        const within = (this.offset + pos) % clusterSize
        const n = Math.min(clusterSize - within, chunkEnd - pos)
        const hi = view.getUint32(slot * 8)
        const lo = view.getUint32(slot * 8 + 4)
        if ((hi & COMPRESSED_HI) !== 0) {
          this.flush()
          this.add(this.compressed(hi, lo, within, n, pos))
        } else {
          if ((hi | lo) !== 0) {
            const problem = l2EntryProblem(img, hi, lo)
            if (problem !== undefined) return img.corrupt(problem)
          }
          const kind = (lo & ZERO_LO) !== 0 ? Run.Zero : (hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0 ? Run.Data : Run.Unallocated
          const host = kind === Run.Data ? entryOffset(hi, lo) + within : 0
          if (kind !== this.runKind || (kind === Run.Data && this.runHost + this.runLength !== host)) {
            this.flush()
            this.runKind = kind
            this.runHost = host
            this.runAt = pos
          }
          this.runLength += n
        }
        pos += n
        slot++
      }
      this.flush()
      return undefined
    } finally {
      img.l2Cache.release(table)
    }
  }

  private async compressed(hi: number, lo: number, within: number, n: number, at: number): Promise<void> {
    const cluster = await readCompressedCluster(this.img, hi, lo)
    scatter(cluster.subarray(within, within + n), this.buffers, at)
  }

  /** Starts the read of the current run. */
  private flush(): void {
    const length = this.runLength
    if (length === 0) return
    this.runLength = 0
    if (this.runKind === Run.Data) this.add(readHost(this.img, this.runHost, this.buffers, this.runAt, length))
    else if (this.runKind === Run.Zero) zeroFill(this.buffers, this.runAt, length)
    else this.add(readUnallocated(this.img.lower, this.offset + this.runAt, this.buffers, this.runAt, length))
    this.runKind = Run.None
  }

  /** Resolves once every started read has ended. */
  done(): Promise<void> {
    const started = this.started
    if (started.length === 0) return RESOLVED
    if (started.length === 1) return started[0]
    return Promise.all(started).then(ignore)
  }

  /** Waits for the started reads to end (so none writes into the buffers afterwards), then fails with `error`. */
  async failAfterReads(error: unknown): Promise<never> {
    await Promise.allSettled(this.started)
    throw error
  }
}

/** Reads guest bytes `[offset, offset + length)` into `buffers` (offset and length are multiples of 512). */
export const readGuest = (img: Image, offset: number, buffers: ReadonlyArray<Uint8Array>, length: number): Promise<void> => {
  const read = new GuestRead(img, offset, buffers, length)
  let walked: Promise<void> | undefined
  try {
    walked = read.walk(0)
  } catch (e) {
    return read.failAfterReads(e)
  }
  if (walked === undefined) return read.done()
  return walked.then(
    () => read.done(),
    (e: unknown) => read.failAfterReads(e),
  )
}
