// Worker job: small positional reads/writes on a file with fs.readSync/writeSync, fs.read/write callbacks and FileHandle promises.
import * as fs from 'node:fs'
import * as fsp from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../src/block/device.js'
import type { FsIoJob, FsIoRow, WorkerResult } from '../spec.js'
import { loadFileBlock } from './engine.js'
import { patternBuffer, SECTOR_BYTES } from './queue.js'

/** Timed repetitions of each method; the median is reported. */
const REPEATS = 3

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
  ['readvSync (serial)', async (fd, _h, bytes, count, offsetOf) => {
    const buffers = [patternBuffer(bytes, 0)]
    for (let i = 0; i < count; i++) fs.readvSync(fd, buffers, offsetOf(i))
  }],
  [`readvSync behind a promise (${depth} in flight)`, (fd, _h, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => Promise.resolve().then(() => fs.readvSync(fd, [buffer], offsetOf(i))), bytes)],
  [`FileHandle.readv (${depth} in flight)`, (_fd, handle, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => handle.readv([buffer], offsetOf(i)), bytes)],
  ['writeSync (serial)', async (fd, _h, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) fs.writeSync(fd, buffer, 0, bytes, offsetOf(i))
  }],
  ['writevSync (serial)', async (fd, _h, bytes, count, offsetOf) => {
    const buffers = [patternBuffer(bytes, 0)]
    for (let i = 0; i < count; i++) fs.writevSync(fd, buffers, offsetOf(i))
  }],
  [`writevSync behind a promise (${depth} in flight)`, (fd, _h, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => Promise.resolve().then(() => fs.writevSync(fd, [buffer], offsetOf(i))), bytes)],
  [`FileHandle.writev (${depth} in flight)`, (_fd, handle, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => handle.writev([buffer], offsetOf(i)), bytes)],
  ['FileHandle.write (serial)', async (_fd, handle, bytes, count, offsetOf) => {
    const buffer = patternBuffer(bytes, 0)
    for (let i = 0; i < count; i++) await handle.write(buffer, 0, bytes, offsetOf(i))
  }],
  [`FileHandle.write (${depth} in flight)`, (_fd, handle, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => handle.write(buffer, 0, bytes, offsetOf(i)), bytes)],
  [`fs.write callback (${depth} in flight)`, (fd, _h, bytes, count, offsetOf) =>
    inFlight(count, depth, (i, buffer) => callbackWrite(fd, buffer, offsetOf(i)), bytes)],
]

/** FileBlock's own read and write at the same depth, to show what the device adds over the raw calls. */
const fileBlockMethods = (device: BlockDevice<unknown>, depth: number): ReadonlyArray<readonly [string, Method]> => {
  const io = (write: boolean) => (i: number, buffer: Uint8Array, offset: number) => {
    const task = write ? device.write(offset / SECTOR_BYTES, [buffer]) : device.read(offset / SECTOR_BYTES, [buffer])
    return task().then((result) => (E.isLeft(result) ? Promise.reject(new Error(`FileBlock request ${i} failed`)) : undefined))
  }
  return [
    [`FileBlock.read (${depth} in flight)`, (_fd, _h, bytes, count, offsetOf) => inFlight(count, depth, (i, buffer) => io(false)(i, buffer, offsetOf(i)), bytes)],
    [`FileBlock.write (${depth} in flight)`, (_fd, _h, bytes, count, offsetOf) => inFlight(count, depth, (i, buffer) => io(true)(i, buffer, offsetOf(i)), bytes)],
  ]
}

/** Times every method at every request size on one pre-filled file (scattered aligned offsets), each after a short warm-up; the median of REPEATS runs. */
export const runFsIo = async (job: FsIoJob): Promise<WorkerResult> => {
  const handle = await fsp.open(job.path, 'w+')
  try {
    await handle.truncate(job.fileBytes)
    await handle.write(patternBuffer(job.fileBytes, 3), 0, job.fileBytes, 0)
    const fileBlock = await loadFileBlock()
    const device = fileBlock.ok ? await fileBlock.value.connect({ path: job.path })() : undefined
    const extra = device !== undefined && E.isRight(device) ? fileBlockMethods(device.right, job.depth) : []
    const rows: FsIoRow[] = []
    for (const bytes of job.requestBytes) {
      const slots = Math.floor(job.fileBytes / bytes)
      const offsetOf = (i: number): number => ((i * 7919) % slots) * bytes
      for (const [method, run] of [...methods(job.depth), ...extra]) {
        await run(handle.fd, handle, bytes, Math.ceil(job.count / 10), offsetOf)
        const rates: number[] = []
        for (let repeat = 0; repeat < REPEATS; repeat++) {
          const started = performance.now()
          await run(handle.fd, handle, bytes, job.count, offsetOf)
          rates.push(job.count / ((performance.now() - started) / 1000))
        }
        rows.push({ method, requestBytes: bytes, opsPerSecond: rates.sort((a, b) => a - b)[REPEATS >> 1] })
      }
    }
    if (device !== undefined && E.isRight(device)) await device.right.disconnect()()
    return { ok: true, seconds: [], fsio: rows }
  } catch (cause) {
    return { ok: false, unavailable: false, reason: `fs micro-benchmark: ${String(cause)}` }
  } finally {
    await handle.close()
    await fsp.rm(job.path, { force: true })
  }
}
