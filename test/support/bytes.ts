// Test-only byte-array assertions that stay fast on megabytes (vitest's deep equality is slow on typed arrays).
import { expect } from 'vitest'

/** The first offset where `a` and `b` differ, or -1 when they are equal (a length difference counts). */
export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.byteLength === b.byteLength ? -1 : n
}

/** Asserts `actual` equals `expected` byte for byte, reporting the first differing offset. */
export const expectBytes = (actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void => {
  const at = firstDifference(actual, expected)
  const detail = at < 0 ? 'equal' : `${what} differ at offset ${at} (length ${actual.byteLength} vs ${expected.byteLength}): ${actual[at]} vs ${expected[at]}`
  expect(detail).toBe('equal')
}
