// Test helpers: temporary directories that clean themselves up, and unwrapping of Either results.
import * as E from 'fp-ts/lib/Either.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Creates a fresh directory under the system's temporary directory; `remove` deletes it and everything in it. */
export const tempDir = async (): Promise<{ readonly path: string; remove(): Promise<void> }> => {
  const path = await mkdtemp(join(tmpdir(), 'qcow-ts-test-'))
  return { path, remove: () => rm(path, { recursive: true, force: true }) }
}

/** Returns the right value, or throws a test failure showing the left. */
export const right = <L, A>(result: E.Either<L, A>): A => {
  if (E.isLeft(result)) throw new Error(`expected Right, got Left ${JSON.stringify(result.left)}`)
  return result.right
}

/** Returns the left value, or throws a test failure when the result is a Right. */
export const left = <L, A>(result: E.Either<L, A>): L => {
  if (E.isRight(result)) throw new Error('expected Left, got Right')
  return result.left
}

/** A buffer of `bytes` bytes filled with a pattern derived from `seed`. */
export const pattern = (bytes: number, seed: number): Uint8Array => {
  const out = new Uint8Array(bytes)
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + seed * 17 + (i >> 9)) & 0xff
  return out
}

/** True when two byte arrays hold the same bytes (fast for large arrays, unlike a deep equality). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
