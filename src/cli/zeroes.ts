// Fast zero detection for the CLI's copies: a one-word test, then a native memcmp against a shared zero buffer.
import { Buffer } from 'node:buffer'

/** Zeroes compared against; never written. Granules longer than this are compared piece by piece. */
const ZEROES = Buffer.alloc(64 * 1024)

/**
 * Whether `length` bytes of `data` from `at` are all zero. Data usually differs from zero in its
 * first bytes, which the first test sees; zeroes are confirmed with `Buffer.equals` (memcmp), several
 * times faster than a JavaScript loop over the bytes.
 */
export const zeroAt = (data: Uint8Array, at: number, length: number): boolean => {
  if (length >= 8 && (data[at] | data[at + 1] | data[at + 2] | data[at + 3] | data[at + length - 1]) !== 0) return false
  for (let done = 0; done < length; done += ZEROES.byteLength) {
    const n = Math.min(ZEROES.byteLength, length - done)
    const piece = Buffer.from(data.buffer, data.byteOffset + at + done, n)
    if (!piece.equals(n === ZEROES.byteLength ? ZEROES : ZEROES.subarray(0, n))) return false
  }
  return true
}
