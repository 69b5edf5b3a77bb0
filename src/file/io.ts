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

/** Called once when a thread-pool read or write has finished, with null or its error. */
export type Done = (error: unknown) => void

/**
 * Reads `total` bytes of the file from byte `position` into `buffers` synchronously, in order, with
 * one `readvSync` in the usual case. Bytes past the end of the file read as zeroes; a short read
 * (more buffers than the system takes at once) continues where it stopped. Throws the system error.
 */
export const readSync = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): void => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesRead = readvSync(fd, pending, position + done)
    if (bytesRead === 0) break
    done += bytesRead
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
  if (done < total) zeroFill(buffers, done, total - done)
}

/** Writes `buffers` (`total` bytes) to the file from byte `position` synchronously (`writevSync`). Throws the system error. */
export const writeSync = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): void => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesWritten = writevSync(fd, pending, position + done)
    if (bytesWritten === 0) throw noProgress(position + done)
    done += bytesWritten
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
}

/** `fs.readv` or `fs.writev`, with a position. */
type PositionalCall = (fd: number, buffers: Uint8Array[], position: number, callback: (error: NodeJS.ErrnoException | null, bytes: number) => void) => void

/**
 * Runs `call` (`fs.readv` or `fs.writev`) until `total` bytes have moved, then calls `finished`:
 * a short transfer continues where it stopped; a read that reaches the end of the file zero-fills
 * the rest, a write that moves nothing fails. `finished` never runs before this function returns.
 */
const onPool = (
  call: PositionalCall,
  write: boolean,
  fd: number,
  buffers: ReadonlyArray<Uint8Array>,
  position: number,
  total: number,
  finished: Done,
): void => {
  let done = 0
  const step = (error: NodeJS.ErrnoException | null, bytes: number): void => {
    if (error !== null) return finished(error)
    if (bytes === 0 && write) return finished(noProgress(position + done))
    done += bytes
    if (bytes > 0 && done < total) return issue(sliceBuffers(buffers, done, total - done))
    if (done < total) zeroFill(buffers, done, total - done)
    finished(null)
  }
  const issue = (pending: ReadonlyArray<Uint8Array>): void => {
    try {
      call(fd, pending as Uint8Array[], position + done, step)
    } catch (error) {
      process.nextTick(finished, error)
    }
  }
  issue(buffers)
}

/**
 * Reads `total` bytes of the file from byte `position` into `buffers` on the thread pool
 * (`fs.readv`), one call in the usual case, then calls `finished`. Bytes past the end of the file
 * read as zeroes.
 */
export const readPool = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number, finished: Done): void =>
  onPool(readv, false, fd, buffers, position, total, finished)

/** Writes `buffers` (`total` bytes) to the file from byte `position` on the thread pool (`fs.writev`), then calls `finished`. */
export const writePool = (fd: number, buffers: ReadonlyArray<Uint8Array>, position: number, total: number, finished: Done): void =>
  onPool(writev, true, fd, buffers, position, total, finished)

/** Makes everything written so far durable (`fsync`). */
export const syncFile = (file: FileHandle): Promise<void> => file.sync()

/** Sets the file's length in bytes (`ftruncate`): new bytes read as zeroes. */
export const truncateFile = (file: FileHandle, bytes: number): Promise<void> => file.truncate(bytes)

/** Closes the file. */
export const closeFile = (file: FileHandle): Promise<void> => file.close()
