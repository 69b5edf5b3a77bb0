// Helpers that move bytes between one contiguous region and a scatter/gather buffer list.

/** The total number of bytes in a buffer list. */
export const totalBytes = (buffers: ReadonlyArray<Uint8Array>): number => {
  let n = 0
  for (const b of buffers) n += b.byteLength
  return n
}

/**
 * Calls `visit(buffer, bufferOffset, regionOffset, length)` for each piece of the buffer list that
 * overlaps the region `[from, from + length)` of the list's concatenation.
 */
export const forEachPiece = (
  buffers: ReadonlyArray<Uint8Array>,
  from: number,
  length: number,
  visit: (buffer: Uint8Array, bufferOffset: number, regionOffset: number, length: number) => void,
): void => {
  let base = 0
  const end = from + length
  for (const b of buffers) {
    const bEnd = base + b.byteLength
    if (bEnd > from && base < end) {
      const start = Math.max(base, from)
      const stop = Math.min(bEnd, end)
      visit(b, start - base, start - from, stop - start)
    }
    if (bEnd >= end) break
    base = bEnd
  }
}

/** Copies `source` into the buffer list starting at byte `at` of the list's concatenation. */
export const scatter = (source: Uint8Array, buffers: ReadonlyArray<Uint8Array>, at = 0): void =>
  forEachPiece(buffers, at, source.byteLength, (b, bo, ro, len) => b.set(source.subarray(ro, ro + len), bo))

/** Copies `length` bytes from byte `at` of the buffer list's concatenation into `target`. */
export const gather = (buffers: ReadonlyArray<Uint8Array>, target: Uint8Array, at = 0, length = target.byteLength): void =>
  forEachPiece(buffers, at, length, (b, bo, ro, len) => target.set(b.subarray(bo, bo + len), ro))

/** Fills `length` bytes from byte `at` of the buffer list's concatenation with zeroes. */
export const zeroFill = (buffers: ReadonlyArray<Uint8Array>, at: number, length: number): void => {
  if (buffers.length === 1) buffers[0].fill(0, at, at + length)
  else forEachPiece(buffers, at, length, (b, bo, _ro, len) => b.fill(0, bo, bo + len))
}

/** Returns the byte region `[at, at + length)` of a buffer list as a list of views (no copy). */
export const sliceBuffers = (buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Uint8Array[] => {
  const out: Uint8Array[] = []
  forEachPiece(buffers, at, length, (b, bo, _ro, len) => out.push(b.subarray(bo, bo + len)))
  return out
}

/** True when every byte of `bytes` is zero. */
export const isZero = (bytes: Uint8Array): boolean => {
  if (bytes.byteOffset % 4 === 0 && bytes.byteLength % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false
    return true
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}
