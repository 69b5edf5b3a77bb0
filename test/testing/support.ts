// Shared helpers of the test-device suites: unwrapping Eithers, fresh RamDisks and byte patterns.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import { RamDisk, type RamDiskDevice } from '../../src/ramdisk/index.js'

/** Runs a task and returns its right value, failing the test with the left one. */
export const run = async <L, A>(task: TaskEither<L, A>): Promise<A> => must(await task())

/** Returns the right value of an Either, failing the test with the left one. */
export const must = <L, A>(result: E.Either<L, A>): A => {
  if (E.isLeft(result)) throw new Error(`expected Right, got Left ${JSON.stringify(result.left)}`)
  return result.right
}

/** A fresh RamDisk of `sectors` 512-byte sectors. */
export const ramDisk = (sectors: number): Promise<RamDiskDevice> => run(RamDisk.connect({ size: sectors * 512 }))

/** `sectors` sectors of bytes derived from `seed` (never all zero). */
export const filled = (sectors: number, seed: number): Uint8Array => {
  const out = new Uint8Array(sectors * 512)
  for (let i = 0; i < out.length; i++) out[i] = ((seed * 131 + i * 7 + (i >> 9) * 13) % 255) + 1
  return out
}

/** Reads the whole device. */
export const readAll = async (device: RamDiskDevice): Promise<Uint8Array> => {
  const info = await run(device.getInfo())
  const out = new Uint8Array(info.sizeSectors * info.sectorSize)
  await run(device.read(0, [out]))
  return out
}
