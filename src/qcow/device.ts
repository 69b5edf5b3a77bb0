// The qcow device: the BlockDevice contract (512-byte sectors) over an open Image, plus header().
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockInfo } from '../block/device.js'
import { disconnected, readOnlyError } from '../block/errors.js'
import { checkRequest } from '../block/validate.js'
import type { BackingLayerInfo, CheckReport, MapExtent, QcowDevice, QcowHeader, RebaseOptions, RepairReport } from './api.js'
import { commitImage } from './backing/commit.js'
import { backingOf, listChain } from './backing/layer.js'
import { flattenImage, rebaseImage } from './backing/rebase.js'
import { corrupt, type QcowError } from './errors.js'
import type { Image } from './image.js'
import { RIGHT_VOID, fail, failedAs, guard, settle } from './io/fault.js'
import { flushImage } from './io/flush.js'
import { readGuest } from './io/read.js'
import { trimBase } from './io/trim.js'
import { writeGuest } from './io/write.js'
import * as ops from './maintenance/operations.js'

/** Sector size of every qcow device. */
export const QCOW_SECTOR_SIZE = 512

const readFailed = failedAs('read')
const writeFailed = failedAs('write')

/** Strips the engine's internal header fields from what `header()` returns. */
const publicHeader = (img: Image): QcowHeader => {
  const { extensions: _extensions, ...rest } = img.header
  return rest
}

/** A qcow2 device over an open image. */
export class QcowDeviceImpl implements QcowDevice {
  constructor(readonly image: Image) {}

  private sizeSectors(): number {
    return Math.floor(this.image.header.size / QCOW_SECTOR_SIZE)
  }

  private live(): void {
    if (!this.image.connected) fail(disconnected())
  }

  /** Validates a request and returns its length in bytes. */
  private request(sector: number, buffers: ReadonlyArray<Uint8Array>): number {
    this.live()
    const counted = checkRequest(sector, buffers, QCOW_SECTOR_SIZE, this.sizeSectors())
    if (E.isLeft(counted)) return fail(counted.left)
    return counted.right * QCOW_SECTOR_SIZE
  }

  getInfo(): TaskEither<QcowError, BlockInfo> {
    return guard('getInfo', async () => {
      this.live()
      return { readWrite: !this.image.readOnly, sectorSize: QCOW_SECTOR_SIZE, sizeSectors: this.sizeSectors() }
    })
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TaskEither<QcowError, void> {
    return () => this.readNow(sector, buffers)
  }

  /** The read, registered with the image's read tracker while it runs (one promise hop: the hot path). */
  private readNow(sector: number, buffers: ReadonlyArray<Uint8Array>): Promise<E.Either<QcowError, void>> {
    let length: number
    try {
      length = this.request(sector, buffers)
    } catch (e) {
      return Promise.resolve(readFailed(e))
    }
    if (length === 0) return Promise.resolve(RIGHT_VOID)
    const reads = this.image.reads
    const epoch = reads.begin()
    let read: Promise<void>
    try {
      read = readGuest(this.image, sector * QCOW_SECTOR_SIZE, buffers, length)
    } catch (e) {
      reads.end(epoch)
      return Promise.resolve(readFailed(e))
    }
    return read.then(
      () => {
        reads.end(epoch)
        return RIGHT_VOID
      },
      (e: unknown) => {
        reads.end(epoch)
        return readFailed(e)
      },
    )
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TaskEither<QcowError, void> {
    return () => settle(writeFailed, () => this.startWrite(sector, buffers))
  }

  private startWrite(sector: number, buffers: ReadonlyArray<Uint8Array>): Promise<void> | undefined {
    const length = this.request(sector, buffers)
    if (this.image.readOnly) fail(readOnlyError('write'))
    if (this.image.corruptFound) fail(corrupt('the image was found corrupt earlier; writes are refused'))
    return length > 0 ? writeGuest(this.image, sector * QCOW_SECTOR_SIZE, buffers, length) : undefined
  }

  flush(): TaskEither<QcowError, void> {
    return guard('flush', async () => {
      this.live()
      if (!this.image.readOnly && !this.image.corruptFound) await flushImage(this.image)
    })
  }

  disconnect(): TaskEither<QcowError, void> {
    return guard('disconnect', async () => {
      this.live()
      try {
        if (!this.image.readOnly && !this.image.corruptFound) {
          await flushImage(this.image)
          await trimBase(this.image)
        }
      } finally {
        this.image.connected = false
        await backingOf(this.image.lower)?.close()
      }
    })
  }

  backingChain(): TaskEither<QcowError, ReadonlyArray<BackingLayerInfo>> {
    return guard('backingChain', async () => {
      this.live()
      return listChain(this.image.lower)
    })
  }

  commit(): TaskEither<QcowError, void> {
    return guard('commit', async () => {
      this.live()
      await commitImage(this.image)
    })
  }

  rebase(newBacking: BlockDevice<QcowError> | null, options?: RebaseOptions): TaskEither<QcowError, void> {
    return guard('rebase', async () => {
      this.live()
      await rebaseImage(this.image, newBacking, options)
    })
  }

  flatten(): TaskEither<QcowError, void> {
    return guard('flatten', async () => {
      this.live()
      await flattenImage(this.image)
    })
  }

  header(): TaskEither<QcowError, QcowHeader> {
    return guard('header', async () => {
      this.live()
      return publicHeader(this.image)
    })
  }

  resize(size: number, options?: unknown): TaskEither<QcowError, void> {
    return guard('resize', () => ops.resize(this.image, size, options))
  }

  seekMapped(fromSector: number): TaskEither<QcowError, number> {
    return guard('seekMapped', () => ops.seek(this.image, fromSector, true))
  }

  seekUnmapped(fromSector: number): TaskEither<QcowError, number> {
    return guard('seekUnmapped', () => ops.seek(this.image, fromSector, false))
  }

  map(fromSector?: number, sectors?: number): TaskEither<QcowError, ReadonlyArray<MapExtent>> {
    return guard('map', () => ops.map(this.image, fromSector, sectors))
  }

  discard(sector: number, sectors: number): TaskEither<QcowError, void> {
    return guard('discard', () => ops.zero(this.image, sector, sectors, 'discard'))
  }

  writeZeroes(sector: number, sectors: number, options?: unknown): TaskEither<QcowError, void> {
    return guard('writeZeroes', async () => ops.zero(this.image, sector, sectors, ops.writeZeroesMode(options)))
  }

  rebuildRefcountTable(): TaskEither<QcowError, void> {
    return guard('rebuildRefcountTable', () => ops.rebuild(this.image))
  }

  check(): TaskEither<QcowError, CheckReport> {
    return guard('check', () => ops.check(this.image))
  }

  repair(options?: unknown): TaskEither<QcowError, RepairReport> {
    return guard('repair', () => ops.repair(this.image, options))
  }
}
