// Test data for the laws: buffer shapes, seeded fills, and comparison of a device's bytes with a model's.
import * as fc from 'fast-check'
import type { BlockDevice } from '../device.js'
import { succeed, violation } from './harness.js'
import type { Tagged } from './types.js'

/** One buffer of a scatter/gather list: its length in sectors and its byte offset inside a larger allocation. */
export interface BufferShape {
  readonly sectors: number
  readonly offset: number
}

/** Lists of 0 to 4 buffers of 0 to 4 sectors each, some starting at odd byte offsets of their memory. */
export const shapeArb: fc.Arbitrary<ReadonlyArray<BufferShape>> = fc.array(
  fc.record({ sectors: fc.nat(4), offset: fc.oneof(fc.constant(0), fc.nat(7)) }),
  { maxLength: 4 },
)

/** The number of sectors a shape covers. */
export const shapeSectors = (shape: ReadonlyArray<BufferShape>): number => shape.reduce((n, b) => n + b.sectors, 0)

/** Drops buffers from the end of `shape` until it covers at most `limit` sectors. */
export const fitShape = (shape: ReadonlyArray<BufferShape>, limit: number): ReadonlyArray<BufferShape> => {
  const out: BufferShape[] = []
  let total = 0
  for (const b of shape) {
    if (total + b.sectors > limit) break
    out.push(b)
    total += b.sectors
  }
  return out
}

/** Allocates the buffers of a shape, each a view into its own larger allocation, filled with `fill`. */
export const makeBuffers = (shape: ReadonlyArray<BufferShape>, sectorSize: number, fill = 0): Uint8Array[] =>
  shape.map((b) => new Uint8Array(new ArrayBuffer(b.offset + b.sectors * sectorSize + 3), b.offset, b.sectors * sectorSize).fill(fill))

/** Fills bytes with a pattern determined by `seed` and each byte's absolute position on the device. */
export const fillSeeded = (bytes: Uint8Array, seed: number, position: number): void => {
  for (let i = 0; i < bytes.length; i++) {
    const x = Math.imul((position + i) ^ Math.imul(seed, 0x9e3779b1), 0x85ebca6b)
    bytes[i] = (x >>> 13) ^ (x >>> 24) ^ seed
  }
}

/** Concatenates buffers into one array. */
export const concat = (buffers: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0))
  let at = 0
  for (const b of buffers) {
    out.set(b, at)
    at += b.byteLength
  }
  return out
}

/** Fails the law unless `actual` equals `expected`, naming the first differing sector of a request at `sector`. */
export const expectBytes = (what: string, actual: Uint8Array, expected: Uint8Array, sector: number, sectorSize: number): void => {
  if (actual.byteLength !== expected.byteLength) violation(`${what}: got ${actual.byteLength} bytes, expected ${expected.byteLength}`)
  for (let i = 0; i < actual.byteLength; i++) {
    if (actual[i] !== expected[i]) {
      const s = sector + Math.floor(i / sectorSize)
      violation(`${what}: sector ${s} differs at byte ${i % sectorSize} (got ${actual[i]}, expected ${expected[i]})`)
    }
  }
}

/** Reads the whole device (in pieces of at most 64 sectors) and returns its bytes. */
export const readWhole = async <E extends Tagged>(device: BlockDevice<E>, sizeSectors: number, sectorSize: number): Promise<Uint8Array> => {
  const out = new Uint8Array(sizeSectors * sectorSize)
  for (let s = 0; s < sizeSectors; s += 64) {
    const n = Math.min(64, sizeSectors - s)
    await succeed(`read of ${n} sector(s) at ${s}`, () => device.read(s, [out.subarray(s * sectorSize, (s + n) * sectorSize)]))
  }
  return out
}
