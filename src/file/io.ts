// Positional I/O on an open file: the only place FileBlock moves bytes, so it can be swapped for benchmarks.
import { readvSync, writevSync } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { sliceBuffers, totalBytes, zeroFill } from '../block/buffers.js'

/** Bytes of zeroes shared by every zero write; never written to. */
const ZERO_CHUNK = new Uint8Array(1024 * 1024)
/** Most zero chunks handed to one `writev` call (so one call writes at most 16 MiB). */
const ZERO_CHUNKS_PER_CALL = 16
/**
 * Requests of at most this many bytes use `readvSync`/`writevSync` on the handle's descriptor instead
 * of the promise API. For small requests the thread-pool round trip costs far more than the copy: on
 * tmpfs, 4 KiB requests ran 3-8x faster synchronously and the 4 KiB bench workloads about doubled
 * (bench/RESULTS.md), while 64 KiB requests gained nothing. A small synchronous call blocks the event
 * loop only for the copy of those few bytes.
 */
export const SYNC_MAX_BYTES = 16 * 1024

/** Reads synchronously with `readvSync`; returns the byte count read before the end of the file. */
const readSyncLoop = (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): number => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesRead = readvSync(file.fd, pending, position + done)
    if (bytesRead === 0) return done
    done += bytesRead
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
  return done
}

/** Reads with the promise API; returns the byte count read before the end of the file. */
const readAsyncLoop = async (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): Promise<number> => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const { bytesRead } = await file.readv(pending, position + done)
    if (bytesRead === 0) return done
    done += bytesRead
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
  return done
}

/**
 * Reads the file from byte `position` into `buffers`, in order, with one `readv` call in the usual
 * case (synchronous up to SYNC_MAX_BYTES). Bytes past the end of the file read as zeroes; a short
 * read (more buffers than the system takes at once) continues where it stopped.
 */
export const readAt = async (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number): Promise<void> => {
  const total = totalBytes(buffers)
  const done = total <= SYNC_MAX_BYTES ? readSyncLoop(file, buffers, position, total) : await readAsyncLoop(file, buffers, position, total)
  if (done < total) zeroFill(buffers, done, total - done)
}

/** Writes synchronously with `writevSync`. */
const writeSyncLoop = (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): void => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const bytesWritten = writevSync(file.fd, pending, position + done)
    if (bytesWritten === 0) throw new Error(`the system wrote nothing at byte ${position + done}`)
    done += bytesWritten
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
}

/** Writes with the promise API. */
const writeAsyncLoop = async (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number, total: number): Promise<void> => {
  let done = 0
  let pending = buffers
  while (done < total) {
    const { bytesWritten } = await file.writev(pending, position + done)
    if (bytesWritten === 0) throw new Error(`the system wrote nothing at byte ${position + done}`)
    done += bytesWritten
    if (done < total) pending = sliceBuffers(buffers, done, total - done)
  }
}

/**
 * Writes `buffers`, in order, to the file from byte `position`, with one `writev` call in the usual
 * case (synchronous up to SYNC_MAX_BYTES).
 */
export const writeAt = async (file: FileHandle, buffers: ReadonlyArray<Uint8Array>, position: number): Promise<void> => {
  const total = totalBytes(buffers)
  if (total <= SYNC_MAX_BYTES) writeSyncLoop(file, buffers, position, total)
  else await writeAsyncLoop(file, buffers, position, total)
}

/** Writes `length` zero bytes from byte `position`, in bounded chunks of one shared zero buffer. */
export const writeZeroesAt = async (file: FileHandle, position: number, length: number): Promise<void> => {
  let done = 0
  while (done < length) {
    const step = Math.min(length - done, ZERO_CHUNK.byteLength * ZERO_CHUNKS_PER_CALL)
    const chunks: Uint8Array[] = []
    for (let left = step; left > 0; left -= ZERO_CHUNK.byteLength) {
      chunks.push(left >= ZERO_CHUNK.byteLength ? ZERO_CHUNK : ZERO_CHUNK.subarray(0, left))
    }
    await writeAt(file, chunks, position + done)
    done += step
  }
}

/** Makes everything written so far durable (`fsync`). */
export const syncFile = (file: FileHandle): Promise<void> => file.sync()

/** Sets the file's length in bytes (`ftruncate`): new bytes read as zeroes. */
export const truncateFile = (file: FileHandle, bytes: number): Promise<void> => file.truncate(bytes)

/** Closes the file. */
export const closeFile = (file: FileHandle): Promise<void> => file.close()
