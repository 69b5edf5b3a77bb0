// Positional I/O on an open file descriptor: synchronous calls for small requests, the callback API (thread pool) for large ones.
import { readv, readvSync, writev, writevSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { sliceBuffers, zeroFill } from '../block/buffers.js'

/**
 * Requests of at most this many bytes use `readvSync`/`writevSync` instead of the thread pool. For
 * small requests the pool round trip costs far more than the copy: on tmpfs, 4 KiB requests ran
 * 3-8x faster synchronously and the 4 KiB bench workloads about doubled (bench/analysis.md). A small
 * synchronous call blocks the event loop only for the copy of those few bytes; larger requests stay
 * on the pool so that a slow disk never stalls the event loop for long.
 */
export const SYNC_MAX_BYTES = 16 * 1024

/** An error carrying a system error code, for a call that made no progress without failing. */
const noProgress = (position: number): Error =>
  Object.assign(new Error(`EIO: the system wrote nothing at byte ${position}`), { code: 'EIO', syscall: 'write' })

/** One `readv` on the thread pool; resolves with the byte count. */
const readvAsync = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number): Promise<number> =>
  new Promise((resolve, reject) => readv(fd, buffers as Uint8Array[], position, (error, bytes) => (error === null ? resolve(bytes) : reject(error))))

/** One `writev` on the thread pool; resolves with the byte count. */
const writevAsync = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number): Promise<number> =>
  new Promise((resolve, reject) => writev(fd, buffers as Uint8Array[], position, (error, bytes) => (error === null ? resolve(bytes) : reject(error))))

/** Reads synchronously; returns the byte count read before the end of the file. */
const readSyncLoop = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): number => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesRead = readvSync(fd, pending, position + done)
    if (bytesRead === 0) return done
    done += bytesRead
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
  return done
}

/** Reads on the thread pool; returns the byte count read before the end of the file. */
const readAsyncLoop = async (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): Promise<number> => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesRead = await readvAsync(fd, pending, position + done)
    if (bytesRead === 0) return done
    done += bytesRead
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
  return done
}

/** Writes synchronously. */
const writeSyncLoop = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): void => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesWritten = writevSync(fd, pending, position + done)
    if (bytesWritten === 0) throw noProgress(position + done)
    done += bytesWritten
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
}

/** Writes on the thread pool. */
const writeAsyncLoop = async (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): Promise<void> => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesWritten = await writevAsync(fd, pending, position + done)
    if (bytesWritten === 0) throw noProgress(position + done)
    done += bytesWritten
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
}

/**
 * Reads `total` bytes of the file from byte `position` into `buffers`, in order, with one `readv`
 * call in the usual case, synchronously (`readvSync`) or on the thread pool (`fs.readv`). Bytes past
 * the end of the file read as zeroes; a short read (more buffers than the system takes at once)
 * continues where it stopped.
 */
export const readAt = async (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number, sync: boolean): Promise<void> => {
  const done = sync ? readSyncLoop(fd, buffers, position, total) : await readAsyncLoop(fd, buffers, position, total)
  if (done < total) zeroFill(buffers, done, total - done)
}

/**
 * Writes `buffers` (`total` bytes), in order, to the file from byte `position`, with one `writev`
 * call in the usual case, synchronously (`writevSync`) or on the thread pool (`fs.writev`).
 */
export const writeAt = async (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number, sync: boolean): Promise<void> => {
  if (sync) writeSyncLoop(fd, buffers, position, total)
  else await writeAsyncLoop(fd, buffers, position, total)
}

/** Makes everything written so far durable (`fsync`). */
export const syncFile = (file: FileHandle): Promise<void> => file.sync()

/** Sets the file's length in bytes (`ftruncate`): new bytes read as zeroes. */
export const truncateFile = (file: FileHandle, bytes: number): Promise<void> => file.truncate(bytes)

/** Closes the file. */
export const closeFile = (file: FileHandle): Promise<void> => file.close()
