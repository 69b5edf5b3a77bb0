// Byte ranges [start, end): union, clipping, and walking them in bounded chunks.
import * as E from 'fp-ts/lib/Either.js'
import type * as TE from 'fp-ts/lib/TaskEither.js'
import type { CliFailure } from './failure.js'

/** A half-open byte range `[start, end)`. */
export type Range = readonly [number, number]

/** The sorted, merged union of range lists. */
export const unionRanges = (...lists: ReadonlyArray<ReadonlyArray<Range>>): ReadonlyArray<Range> => {
  const all = lists.flat().filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  for (const [s, e] of all) {
    const last = out[out.length - 1]
    if (last !== undefined && s <= last[1]) last[1] = Math.max(last[1], e)
    else out.push([s, e])
  }
  return out
}

/** The ranges widened outwards to multiples of `unit`, merged where they then meet. */
export const alignRanges = (ranges: ReadonlyArray<Range>, unit: number): ReadonlyArray<Range> =>
  unionRanges(ranges.map(([s, e]): Range => [Math.floor(s / unit) * unit, Math.ceil(e / unit) * unit]))

/** The parts of the ranges inside `[from, to)`. */
export const clipRanges = (ranges: ReadonlyArray<Range>, from: number, to: number): ReadonlyArray<Range> =>
  ranges.map(([s, e]): Range => [Math.max(s, from), Math.min(e, to)]).filter(([s, e]) => e > s)

/** The total length of the ranges. */
export const rangesLength = (ranges: ReadonlyArray<Range>): number => ranges.reduce((n, [s, e]) => n + e - s, 0)

/** The ranges cut, in order, into pieces of at most `chunk` bytes aligned to multiples of `chunk`. */
export function* piecesOf(ranges: ReadonlyArray<Range>, chunk: number): Generator<Range> {
  for (const [s, e] of ranges) {
    for (let at = s; at < e; ) {
      const next = Math.min(e, (Math.floor(at / chunk) + 1) * chunk)
      yield [at, next]
      at = next
    }
  }
}

/**
 * Visits the ranges in order, in the pieces of `piecesOf`.
 * `visit` returns a value to stop early with it, or undefined to go on; the result is that value.
 */
export const walkRanges =
  <A>(
    ranges: ReadonlyArray<Range>,
    chunk: number,
    visit: (start: number, length: number) => TE.TaskEither<CliFailure, A | undefined>,
  ): TE.TaskEither<CliFailure, A | undefined> =>
  async () => {
    for (const [start, end] of piecesOf(ranges, chunk)) {
      const r = await visit(start, end - start)()
      if (E.isLeft(r) || r.right !== undefined) return r
    }
    return E.right(undefined)
  }
