// Test helpers for the qcow engine: unwrapping TaskEithers, RamDisk-backed images and a byte-array model.
import { expect } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import { RamDisk, type RamDiskDevice } from '../../../src/ramdisk/index.js'
import { makeQcow, describeError, type QcowDevice, type QcowError } from '../../../src/qcow/index.js'

/** The module under test. */
export const Qcow = makeQcow(RamDisk)

/** Runs a TaskEither and returns its Right, failing the test with the rendered error otherwise. */
export const run = async <A>(task: TaskEither<QcowError, A>): Promise<A> => {
  const r = await task()
  if (E.isLeft(r)) throw new Error(describeError(r.left))
  return r.right
}

/** Runs a TaskEither and returns its Left, failing when it succeeds. */
export const runLeft = async <A>(task: TaskEither<QcowError, A>): Promise<QcowError> => {
  const r = await task()
  if (E.isRight(r)) throw new Error('expected an error')
  return r.left
}

/** A fresh RamDisk of `bytes` bytes. */
export const ramDisk = (bytes: number): Promise<RamDiskDevice> => run(RamDisk.connect({ size: bytes }))

/** The whole content of a RamDisk. */
export const diskBytes = async (disk: RamDiskDevice): Promise<Uint8Array> => {
  const info = await run(disk.getInfo())
  const out = new Uint8Array(info.sizeSectors * info.sectorSize)
  await run(disk.read(0, [out]))
  return out
}

/** A RamDisk holding `bytes` (rounded up to whole sectors). */
export const diskWith = async (bytes: Uint8Array): Promise<RamDiskDevice> => {
  const size = Math.ceil(bytes.byteLength / 512) * 512
  const disk = await ramDisk(size)
  const copy = new Uint8Array(size)
  copy.set(bytes)
  await run(disk.write(0, [copy]))
  return disk
}

/** Deterministic bytes for a write: `seed` mixed with the position. */
export const pattern = (length: number, seed: number): Uint8Array => {
  const out = new Uint8Array(length)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

/** Byte equality of two arrays (fast; vitest's deep equality is slow on large typed arrays). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

/** Writes `pattern(sectors * 512, seed)` at `sector` to the device and to the byte-array model of its content. */
export const writeModelled = async (device: QcowDevice, model: Uint8Array, sector: number, sectors: number, seed: number): Promise<void> => {
  const data = pattern(sectors * 512, seed)
  await run(device.write(sector, [data]))
  model.set(data, sector * 512)
}

/** Reads `sectors` sectors at `sector` and expects the model's bytes there. */
export const expectReadsModel = async (device: QcowDevice, model: Uint8Array, sector: number, sectors: number): Promise<void> => {
  const out = new Uint8Array(sectors * 512)
  await run(device.read(sector, [out]))
  expect(sameBytes(out, model.subarray(sector * 512, (sector + sectors) * 512))).toBe(true)
}
