// The allocation of an image's virtual disk as extents, from the engine's map or, failing that, "all data".
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { CliFailure } from './failure.js'
import type { Image } from './image.js'
import { mapImage } from './maintenance.js'

/** A run of the virtual disk with one status, in bytes, as `qemu-img map --output=json` shows it. */
export interface Extent {
  readonly start: number
  readonly length: number
  /** Allocated in this image (a data, compressed or zero cluster). */
  readonly present: boolean
  /** Reads as zeroes. */
  readonly zero: boolean
  /** Holds data (may still happen to be zero). */
  readonly data: boolean
  /** Host offset of uncompressed data. */
  readonly offset?: number
}

/** The whole disk as one data extent: what raw images are, and what a qcow2 engine without `map` gives. */
const allData = (image: Image): ReadonlyArray<Extent> =>
  image.sizeBytes === 0 ? [] : [{ start: 0, length: image.sizeBytes, present: true, zero: false, data: true, offset: 0 }]

/**
 * The image's extents: the engine's map for qcow2 images, else the whole disk as data (callers read
 * data extents and test them for zeroes themselves).
 */
export const extentsOf = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Extent>> => {
  const mapped = image.qcow === undefined ? undefined : mapImage(image.path, image.qcow)
  if (mapped === undefined) return TE.right(allData(image))
  return pipe(
    mapped,
    TE.map((extents) =>
      extents.map(
        (e): Extent => ({
          start: e.start,
          length: e.length,
          present: e.present ?? (e.data || e.offset !== undefined),
          zero: e.zero,
          data: e.data,
          ...(e.offset === undefined ? {} : { offset: e.offset }),
        }),
      ),
    ),
  )
}

/** The byte ranges that may hold non-zero data (extents not known to read as zeroes), merged. */
export const dataRanges = (extents: ReadonlyArray<Extent>): ReadonlyArray<readonly [number, number]> => {
  const ranges: Array<[number, number]> = []
  for (const e of extents) {
    if (e.zero) continue
    const last = ranges[ranges.length - 1]
    if (last !== undefined && last[1] === e.start) last[1] = e.start + e.length
    else ranges.push([e.start, e.start + e.length])
  }
  return ranges
}
