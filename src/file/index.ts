// FileBlock: a block device over a regular file, with positional reads and writes on its descriptor.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts/lib/index.js'
import type { FileHandle } from 'node:fs/promises'
import { decodeConfig } from '../block/decode.js'
import type { BlockDevice, BlockInfo, BlockModule } from '../block/device.js'
import { disconnected, ioError, readOnlyError, unsupported, type BlockError } from '../block/errors.js'
import { RangeLock } from '../block/range-lock.js'
import { checkRange, checkRequest, checkSeekStart } from '../block/validate.js'
import { DEFAULT_LIMITS, Dispatcher } from './dispatch.js'
import { Gate } from './gate.js'
import { firstDataSector, firstHoleSector } from './holes.js'
import { closeFile, syncFile, truncateFile } from './io.js'
import { openRegularFile } from './open.js'
import { seekAddon } from './seek-addon.js'

/** Sector size of every FileBlock. */
export const FILE_SECTOR_SIZE = 512
/** The largest size in sectors whose byte length is still a safe integer. */
const MAX_SECTORS = Math.floor(Number.MAX_SAFE_INTEGER / FILE_SECTOR_SIZE)
/** Bytes of zeroes shared by every zero write; never written to. */
const ZERO_CHUNK = new Uint8Array(1024 * 1024)
/** Most zero chunks handed to one `writev` call (so one call writes at most 16 MiB). */
const ZERO_CHUNKS_PER_CALL = 16

/** Configuration of `FileBlock.connect`. */
export interface FileBlockConfig {
  /** Path of a regular file. */
  readonly path: string
  /** Open for reading only; writes, zero writes and resizes then fail with `ReadOnly`. */
  readonly readOnly?: boolean
  /** Create the file, empty, when it does not exist (not with `readOnly`). */
  readonly create?: boolean
}

const FileBlockConfigCodec = t.intersection([
  t.type({ path: t.string }),
  t.partial({ readOnly: t.union([t.boolean, t.undefined]), create: t.union([t.boolean, t.undefined]) }),
])

/**
 * A FileBlock device. It has `writeZeroes` (zeroes written in bounded chunks) and `resize`
 * (`ftruncate`), but no `discard`: Node offers no way to punch holes, and writing zeroes is not
 * what a caller asking for a discard wants.
 *
 * A file whose length is not a multiple of 512 bytes shows its last sector padded with zeroes and
 * reports its size rounded up; writing that last sector extends the file to the whole sector.
 */
export interface FileBlockDevice extends BlockDevice {
  /** The path the device was opened with. */
  readonly path: string
  writeZeroes(sector: number, sectors: number): TE.TaskEither<BlockError, void>
  resize(sizeSectors: number): TE.TaskEither<BlockError, void>
  /**
   * The first sector at or after `fromSector` holding data, or the size in sectors when none does:
   * holes in a sparse file (lseek SEEK_DATA) are skipped. Without the native addon, or on a file
   * system that cannot tell holes, every sector holds data.
   */
  seekMapped(fromSector: number): TE.TaskEither<BlockError, number>
  /**
   * The first sector at or after `fromSector` lying wholly in a hole (it reads as zeroes), or the size
   * in sectors when none does. Without the native addon, or on a file system that cannot tell holes,
   * there is none.
   */
  seekUnmapped(fromSector: number): TE.TaskEither<BlockError, number>
  /** The file's length in bytes (`fstat`): it may end inside the last sector, which reads padded with zeroes. */
  byteLength(): TE.TaskEither<BlockError, number>
}

class FileBlockImpl implements FileBlockDevice {
  private connected = true
  private readonly gate = new Gate()
  private readonly ranges = new RangeLock()
  private resizes: Promise<unknown> = Promise.resolve()
  private readonly io: Dispatcher

  constructor(
    private readonly file: FileHandle,
    readonly path: string,
    private readonly readWrite: boolean,
    private sizeSectors: number,
  ) {
    this.io = new Dispatcher(file.fd, DEFAULT_LIMITS)
  }

  getInfo(): TE.TaskEither<BlockError, BlockInfo> {
    return () =>
      Promise.resolve(
        this.connected
          ? E.right({ readWrite: this.readWrite, sectorSize: FILE_SECTOR_SIZE, sizeSectors: this.sizeSectors })
          : E.left(disconnected()),
      )
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return () => this.transfer('read', false, sector, buffers)
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return () => this.transfer('write', true, sector, buffers)
  }

  writeZeroes(sector: number, sectors: number): TE.TaskEither<BlockError, void> {
    return this.request('write zeroes', async () => {
      const checked = checkRange(sector, sectors, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      if (!this.readWrite) return E.left(readOnlyError('write zeroes'))
      await this.ranges.with(sector, sector + sectors, true, () => this.zeroes(sector * FILE_SECTOR_SIZE, sectors * FILE_SECTOR_SIZE))
      return E.right(undefined)
    })
  }

  seekMapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.seek('seekMapped', fromSector, true)
  }

  seekUnmapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.seek('seekUnmapped', fromSector, false)
  }

  byteLength(): TE.TaskEither<BlockError, number> {
    return this.request('stat', async () => E.right((await this.file.stat()).size))
  }

  flush(): TE.TaskEither<BlockError, void> {
    return this.request('flush', async () => {
      await syncFile(this.file)
      return E.right(undefined)
    })
  }

  /** Resizes are queued one after another; growing runs beside other requests, shrinking runs alone. */
  resize(sizeSectors: number): TE.TaskEither<BlockError, void> {
    return () => {
      const result = this.resizes.then(() => this.resizeNow(sizeSectors))
      this.resizes = result
      return result
    }
  }

  disconnect(): TE.TaskEither<BlockError, void> {
    return (): Promise<E.Either<BlockError, void>> => {
      if (!this.connected) return Promise.resolve(E.left(disconnected()))
      this.connected = false
      return this.gate.exclusive(() => this.guard('close', () => closeFile(this.file).then((): E.Either<BlockError, void> => E.right(undefined))))
    }
  }

  /**
   * A read or write: `request` and `RangeLock.with` unrolled into one async function, since these
   * run once per request (the per-request promises showed in the 64 KiB bench profiles).
   */
  private async transfer(operation: string, write: boolean, sector: number, buffers: ReadonlyArray<Uint8Array>): Promise<E.Either<BlockError, void>> {
    if (!this.connected) return E.left(disconnected())
    const entering = this.gate.enter()
    if (entering !== undefined) await entering
    try {
      if (!this.connected) return E.left(disconnected())
      const checked = checkRequest(sector, buffers, FILE_SECTOR_SIZE, this.sizeSectors)
      if (E.isLeft(checked)) return checked
      if (write && !this.readWrite) return E.left(readOnlyError(operation))
      const taken = this.ranges.take(sector, sector + checked.right, write)
      const release = typeof taken === 'function' ? taken : await taken
      try {
        const pooled = this.io.submit(write, buffers, sector * FILE_SECTOR_SIZE, checked.right * FILE_SECTOR_SIZE)
        if (pooled !== undefined) await pooled
      } finally {
        release()
      }
      return E.right(undefined)
    } catch (cause) {
      return E.left(ioError(operation, cause, this.path))
    } finally {
      this.gate.leave()
    }
  }

  /** Writes `length` zero bytes from byte `position`, in bounded chunks of one shared zero buffer. */
  private async zeroes(position: number, length: number): Promise<void> {
    for (let done = 0; done < length; ) {
      const step = Math.min(length - done, ZERO_CHUNK.byteLength * ZERO_CHUNKS_PER_CALL)
      const chunks: Uint8Array[] = []
      for (let left = step; left > 0; left -= ZERO_CHUNK.byteLength) {
        chunks.push(left >= ZERO_CHUNK.byteLength ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, left))
      }
      const pooled = this.io.submit(true, chunks, position + done, step)
      if (pooled !== undefined) await pooled
      done += step
    }
  }

  private resizeNow(sizeSectors: number): Promise<E.Either<BlockError, void>> {
    if (!this.connected) return Promise.resolve(E.left(disconnected()))
    const checked = checkRange(0, sizeSectors, MAX_SECTORS)
    if (E.isLeft(checked)) return Promise.resolve(checked)
    if (!this.readWrite) return Promise.resolve(E.left(readOnlyError('resize')))
    const section = sizeSectors >= this.sizeSectors ? this.gate.shared.bind(this.gate) : this.gate.exclusive.bind(this.gate)
    return section(
      (): Promise<E.Either<BlockError, void>> =>
        this.connected
          ? this.guard('resize', async () => {
              await truncateFile(this.file, sizeSectors * FILE_SECTOR_SIZE)
              this.sizeSectors = sizeSectors
              return E.right(undefined)
            })
          : Promise.resolve(E.left(disconnected())),
    )
  }

  /** `seekMapped` (mapped true) or `seekUnmapped`; waits for overlapping writes in flight so it sees each whole or not at all. */
  private seek(operation: string, fromSector: number, mapped: boolean): TE.TaskEither<BlockError, number> {
    return this.request(operation, async () => {
      const size = this.sizeSectors
      const checked = checkSeekStart(fromSector, size)
      if (E.isLeft(checked)) return checked
      const from = checked.right
      const addon = seekAddon()
      if (from === size || addon === undefined) return E.right(mapped ? from : size)
      const found = await this.ranges.with(from, size, false, async () => (mapped ? firstDataSector : firstHoleSector)(addon, this.file.fd, from, size))
      return E.mapLeft((cause: Error) => ioError(operation, cause, this.path))(found)
    })
  }

  /** Runs a request beside others (never during a shrink or disconnect), as long as the device is connected. */
  private request<A>(operation: string, body: () => Promise<E.Either<BlockError, A>>): TE.TaskEither<BlockError, A> {
    return () =>
      this.connected
        ? this.gate.shared(() => (this.connected ? this.guard(operation, body) : Promise.resolve(E.left(disconnected()))))
        : Promise.resolve(E.left(disconnected()))
  }

  /** Turns a rejection or throw of `body` into an `Io` error naming the operation and the path. */
  private async guard<A>(operation: string, body: () => Promise<E.Either<BlockError, A>>): Promise<E.Either<BlockError, A>> {
    try {
      return await body()
    } catch (cause) {
      return E.left(ioError(operation, cause, this.path))
    }
  }
}

const connectFile = (config: FileBlockConfig): TE.TaskEither<BlockError, FileBlockDevice> => {
  const readOnly = config.readOnly === true
  const create = config.create === true
  if (readOnly && create) return TE.left(unsupported('FileBlock configuration', 'create and readOnly cannot both be set'))
  return TE.tryCatch(
    async () => {
      const { file, bytes } = await openRegularFile(config.path, readOnly, create)
      return new FileBlockImpl(file, config.path, !readOnly, Math.ceil(bytes / FILE_SECTOR_SIZE)) as FileBlockDevice
    },
    (cause) => ioError('open', cause, config.path),
  )
}

/** The FileBlock module: `FileBlock.connect({ path, readOnly?, create? })` opens a regular file as a device. */
export const FileBlock: BlockModule<FileBlockConfig, FileBlockDevice> = {
  name: 'FileBlock',
  connect: (config) => TE.chain(connectFile)(TE.fromEither(decodeConfig(FileBlockConfigCodec, config, 'FileBlock configuration'))),
}
