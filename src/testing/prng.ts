// A small seeded pseudo-random generator (mulberry32), so injected faults and crash states replay exactly.

/** A deterministic source of numbers in `[0, 1)`. */
export type RandomSource = () => number

/** Returns a deterministic generator for `seed` (any number; its low 32 bits are used). */
export const seededRandom = (seed: number): RandomSource => {
  let state = (Number.isFinite(seed) ? Math.trunc(seed) : 0) >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
