// RamDisk: a sparse in-memory block device whose memory grows with the data written, not its size.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts/lib/index.js'
import { decodeConfig } from '../block/decode.js'
import type { BlockDevice, BlockInfo, BlockModule } from '../block/device.js'
import { disconnected, readOnlyError, type BlockError } from '../block/errors.js'
import { bytesToSectors, checkRange, checkRequest, checkSeekStart } from '../block/validate.js'
import { ChunkStore } from './chunks.js'

/** Sector size of every RamDisk. */
export const RAMDISK_SECTOR_SIZE = 512
/** Memory is allocated in chunks of this many bytes, on first write. */
const CHUNK = 64 * 1024

/** Configuration of `RamDisk.connect`. */
export interface RamDiskConfig {
  /** Size in bytes, a multiple of 512. */
  readonly size: number
  /** Refuse writes when true. */
  readonly readOnly?: boolean
}

/** A RamDisk device: a BlockDevice with discard, zero writes, resize and seeks (mapped: inside a chunk that holds memory). */
export interface RamDiskDevice extends BlockDevice {
  discard(sector: number, sectors: number): TE.TaskEither<BlockError, void>
  writeZeroes(sector: number, sectors: number): TE.TaskEither<BlockError, void>
  resize(sizeSectors: number): TE.TaskEither<BlockError, void>
  seekMapped(fromSector: number): TE.TaskEither<BlockError, number>
  seekUnmapped(fromSector: number): TE.TaskEither<BlockError, number>
  /** Bytes of data chunks currently held (a multiple of the chunk size; memory is taken 16 chunks at a time). */
  allocatedBytes(): number
}

const RamDiskConfigCodec = t.intersection([t.type({ size: t.number }), t.partial({ readOnly: t.union([t.boolean, t.undefined]) })])

class RamDiskImpl implements RamDiskDevice {
  private readonly chunks = new ChunkStore(CHUNK)
  private connected = true

  constructor(
    private sizeSectors: number,
    private readonly readWrite: boolean,
  ) {}

  allocatedBytes(): number {
    return this.chunks.size * CHUNK
  }

  getInfo(): TE.TaskEither<BlockError, BlockInfo> {
    return this.run(() => E.right({ readWrite: this.readWrite, sectorSize: RAMDISK_SECTOR_SIZE, sizeSectors: this.sizeSectors }))
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return this.run(() => {
      const checked = checkRequest(sector, buffers, RAMDISK_SECTOR_SIZE, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      let pos = sector * RAMDISK_SECTOR_SIZE
      for (const b of buffers) {
        this.copyOut(pos, b)
        pos += b.byteLength
      }
      return E.right(undefined)
    })
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return this.run(() => {
      const checked = checkRequest(sector, buffers, RAMDISK_SECTOR_SIZE, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      if (!this.readWrite) return E.left(readOnlyError('write'))
      let pos = sector * RAMDISK_SECTOR_SIZE
      for (const b of buffers) {
        this.copyIn(pos, b)
        pos += b.byteLength
      }
      return E.right(undefined)
    })
  }

  flush(): TE.TaskEither<BlockError, void> {
    return this.run(() => E.right(undefined))
  }

  disconnect(): TE.TaskEither<BlockError, void> {
    return this.run(() => {
      this.connected = false
      this.chunks.clear()
      return E.right(undefined)
    })
  }

  discard(sector: number, sectors: number): TE.TaskEither<BlockError, void> {
    return this.writeZeroes(sector, sectors)
  }

  writeZeroes(sector: number, sectors: number): TE.TaskEither<BlockError, void> {
    return this.run(() => {
      const checked = checkRange(sector, sectors, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      if (!this.readWrite) return E.left(readOnlyError('write zeroes'))
      this.zero(sector * RAMDISK_SECTOR_SIZE, (sector + sectors) * RAMDISK_SECTOR_SIZE)
      return E.right(undefined)
    })
  }

  resize(sizeSectors: number): TE.TaskEither<BlockError, void> {
    return this.run(() => {
      const checked = checkRange(0, sizeSectors, Number.MAX_SAFE_INTEGER / RAMDISK_SECTOR_SIZE)
      if (E.isLeft(checked)) return checked
      if (!this.readWrite) return E.left(readOnlyError('resize'))
      if (sizeSectors < this.sizeSectors) {
        this.zero(sizeSectors * RAMDISK_SECTOR_SIZE, this.sizeSectors * RAMDISK_SECTOR_SIZE)
      }
      this.sizeSectors = sizeSectors
      return E.right(undefined)
    })
  }

  seekMapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.seek(fromSector, true)
  }

  seekUnmapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.seek(fromSector, false)
  }

  /** The first sector at or after `fromSector` whose chunk holds memory (`mapped`) or does not; the size when none. */
  private seek(fromSector: number, mapped: boolean): TE.TaskEither<BlockError, number> {
    return this.run(() => {
      const checked = checkSeekStart(fromSector, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      const first = Math.floor((checked.right * RAMDISK_SECTOR_SIZE) / CHUNK)
      let index = first
      if (mapped) {
        // The nearest chunk at or after `first`: probe index by index while that is cheaper than visiting every chunk.
        const limit = Math.ceil((this.sizeSectors * RAMDISK_SECTOR_SIZE) / CHUNK)
        if (limit - first > this.chunks.size) {
          index = limit
          for (const i of this.chunks.keys()) if (i >= first && i < index) index = i
        } else while (index < limit && !this.chunks.has(index)) index++
      } else while (this.chunks.has(index)) index++
      return E.right(Math.min(this.sizeSectors, Math.max(checked.right, (index * CHUNK) / RAMDISK_SECTOR_SIZE)))
    })
  }

  private run<A>(body: () => E.Either<BlockError, A>): TE.TaskEither<BlockError, A> {
    return () => Promise.resolve(this.connected ? body() : E.left(disconnected()))
  }

  private copyOut(pos: number, target: Uint8Array): void {
    let done = 0
    while (done < target.byteLength) {
      const at = pos + done
      const index = Math.floor(at / CHUNK)
      const within = at - index * CHUNK
      const n = Math.min(CHUNK - within, target.byteLength - done)
      const chunk = this.chunks.get(index)
      if (chunk === undefined) target.fill(0, done, done + n)
      else target.set(n === CHUNK ? chunk : chunk.subarray(within, within + n), done)
      done += n
    }
  }

  private copyIn(pos: number, source: Uint8Array): void {
    let done = 0
    while (done < source.byteLength) {
      const at = pos + done
      const index = Math.floor(at / CHUNK)
      const within = at - index * CHUNK
      const n = Math.min(CHUNK - within, source.byteLength - done)
      const chunk = this.chunks.take(index)
      chunk.set(n === source.byteLength ? source : source.subarray(done, done + n), within)
      done += n
    }
  }

  /** Zeroes bytes `[from, to)`: whole chunks are released, partial ones cleared. */
  private zero(from: number, to: number): void {
    const total = to - from
    if (total <= 0) return
    // Visiting only the chunks that exist keeps a huge discard on a sparse disk cheap.
    const first = Math.floor(from / CHUNK)
    const last = Math.floor((to - 1) / CHUNK)
    const visit = (index: number, chunk: Uint8Array): void => {
      const start = Math.max(from, index * CHUNK) - index * CHUNK
      const end = Math.min(to, (index + 1) * CHUNK) - index * CHUNK
      if (start === 0 && end === CHUNK) this.chunks.release(index)
      else chunk.fill(0, start, end)
    }
    if (last - first + 1 > this.chunks.size) {
      for (const index of [...this.chunks.keys()]) {
        const chunk = this.chunks.get(index)
        if (chunk !== undefined && index >= first && index <= last) visit(index, chunk)
      }
    } else {
      for (let index = first; index <= last; index++) {
        const chunk = this.chunks.get(index)
        if (chunk !== undefined) visit(index, chunk)
      }
    }
  }
}

/** The RamDisk module: `RamDisk.connect({ size })` opens a fresh, zero-filled, sparse device. */
export const RamDisk: BlockModule<RamDiskConfig, RamDiskDevice> = {
  name: 'RamDisk',
  connect: (config) => () =>
    Promise.resolve(
      E.chain((c: RamDiskConfig) =>
        E.map((sectors: number): RamDiskDevice => new RamDiskImpl(sectors, c.readOnly !== true))(bytesToSectors(c.size, RAMDISK_SECTOR_SIZE)),
      )(decodeConfig(RamDiskConfigCodec, config, 'RamDisk configuration')),
    ),
}
