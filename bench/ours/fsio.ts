// Worker job: small positional reads/writes on a file with fs.readSync/writeSync, fs.read/write callbacks and FileHandle promises.
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import type { FsIoJob, FsIoRow, WorkerResult } from '../spec.js'
import { patternBuffer } from './queue.js'

/** One way of issuing `count` requests of `bytes` at offsets from `offsetOf`; resolves when all are done. */
type Method = (fd: number, handle: fsp.FileHandle, bytes: number, count: number, offsetOf: (i: number) => number) => Promise<void>

/** Runs `issue(i)` for i < count with `depth` in flight. */
const inFlight = async (count: number, depth: number, issue: (i: number, buffer: Uint8Array) => Promise<unknown>, bytes: number): Promise<void> => {
  let next = 0
  const lane = async (lane: number): Promise<void> => {
    const buffer = patternBuffer(bytes, lane)
    while (next < count) await issue(next++, buffer)
  }
  await Promise.all(Array.from({ length: depth }, (_, lane) => lane).map(lane))
}

const callbackRead = (fd: number, buffer: Uint8Array, offset: number): Promise<number> =>
  new Promise((resolve, reject) => fs.read(fd, buffer, 0, buffer.byteLength, offset, (error, n) => (error ? reject(error) : resolve(n))))

const callbackWrite = (fd: number, buffer: Uint8Array, offset: number): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, buffer, 0, buffer.byteLength, offset, (error, n) => (error ? reject(error) : resolve(n))))

const methods = (depth: number): ReadonlyArray<readonly [string, Method]> => [
  ['readSync (serial)', async (fd, _h, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) fs.readSync(fd, buffer, 0, bytes, offsetOf(i))
  }],
  ['FileHandle.read (serial)', async (_fd, handle, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) await handle.read(buffer, 0, bytes, offsetOf(i))
  }],
  [`FileHandle.read (${depth} in flight)`, (_fd, handle, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => handle.read(buffer, 0, bytes, offsetOf(i)), bytes)],
  [`fs.read callback (${depth} in flight)`, (fd, _h, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => callbackRead(fd, buffer, offsetOf(i)), bytes)],
  ['writeSync (serial)', async (fd, _h, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) fs.writeSync(fd, buffer, 0, bytes, offsetOf(i))
  }],
  ['FileHandle.write (serial)', async (_fd, handle, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) await handle.write(buffer, 0, bytes, offsetOf(i))
  }],
  [`FileHandle.write (${depth} in flight)`, (_fd, handle, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => handle.write(buffer, 0, bytes, offsetOf(i)), bytes)],
  [`fs.write callback (${depth} in flight)`, (fd, _h, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => callbackWrite(fd, buffer, offsetOf(i)), bytes)],
]

/** Times every method at every request size on one pre-filled file (scattered aligned offsets), each after a short warm-up. */
export const runFsIo = async (job: FsIoJob): Promise<WorkerResult> => {
  const handle = await fsp.open(job.path, 'w+')
  try {
    await handle.truncate(job.fileBytes)
    await handle.write(patternBuffer(job.fileBytes, 3), 0, job.fileBytes, 0)
    const rows: FsIoRow[] = []
    for (const bytes of job.requestBytes) {
      const slots = Math.floor(job.fileBytes / bytes)
      const offsetOf = (i: number): number => ((i * 7919) % slots) * bytes
      for (const [method, run] of methods(job.depth)) {
        await run(handle.fd, handle, bytes, Math.ceil(job.count / 10), offsetOf)
        const started = performance.now()
        await run(handle.fd, handle, bytes, job.count, offsetOf)
        rows.push({ method, requestBytes: bytes, opsPerSecond: job.count / ((performance.now() - started) / 1000) })
      }
    }
    return { ok: true, seconds: [], fsio: rows }
  } catch (cause) {
    return { ok: false, unavailable: false, reason: `fs micro-benchmark: ${String(cause)}` }
  } finally {
    await handle.close()
    await fsp.rm(job.path, { force: true })
  }
}
