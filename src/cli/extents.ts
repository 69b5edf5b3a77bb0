// The allocation of an image's virtual disk as extents, from the engine's map or, failing that, "all data".
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { CliFailure } from './failure.js'
import type { Image } from './image.js'
import type { QcowDevice } from '../index.js'
import { allocatedRuns, mapImage, type MapExtent } from './maintenance.js'

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

/** Splits extents at the edges of allocated runs, marking each piece present or not. */
const markPresence = (extents: ReadonlyArray<MapExtent>, runs: ReadonlyArray<readonly [number, number]>): Extent[] => {
  const out: Extent[] = []
  let r = 0
  for (const e of extents) {
    let at = e.start
    const end = e.start + e.length
    while (at < end) {
      while (r < runs.length && runs[r][1] <= at) r++
      const run = runs[r]
      const inside = run !== undefined && run[0] <= at
      const stop = Math.min(end, run === undefined ? end : inside ? run[1] : run[0])
      out.push(piece(e, at, stop - at, inside || e.data))
      at = stop
    }
  }
  return out
}

/** The part `[at, at + length)` of extent `e`, with its presence. */
const piece = (e: MapExtent, at: number, length: number, present: boolean): Extent => ({
  start: at,
  length,
  present,
  zero: e.zero,
  data: e.data,
  ...(e.offset === undefined ? {} : { offset: e.offset + (at - e.start) }),
})

/** Merges neighbours with equal flags and contiguous host offsets, as qemu-img map does. */
const mergeExtents = (extents: ReadonlyArray<Extent>): Extent[] => {
  const out: Extent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    const joins =
      last !== undefined &&
      last.start + last.length === e.start &&
      last.present === e.present &&
      last.zero === e.zero &&
      last.data === e.data &&
      (last.offset === undefined ? e.offset === undefined : e.offset === last.offset + last.length)
    if (joins) out[out.length - 1] = { ...last, length: last.length + e.length }
    else out.push(e)
  }
  return out
}

/** Extents with `present` from the engine, or found with seekMapped/seekUnmapped when it leaves it out. */
const withPresence = (image: Image, qcow: QcowDevice, extents: ReadonlyArray<MapExtent>): TE.TaskEither<CliFailure, ReadonlyArray<Extent>> => {
  if (extents.every((e) => e.present !== undefined)) {
    return TE.right(extents.map((e) => piece(e, e.start, e.length, e.present === true)))
  }
  const runs = allocatedRuns(image.path, qcow, image.sizeBytes)
  return runs === undefined
    ? TE.right(extents.map((e) => piece(e, e.start, e.length, e.data)))
    : pipe(
        runs,
        TE.map((r) => mergeExtents(markPresence(extents, r))),
      )
}

/**
 * The image's extents: the engine's map for qcow2 images, else the whole disk as data (callers read
 * data extents and test them for zeroes themselves).
 */
export const extentsOf = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Extent>> => {
  const qcow = image.qcow
  const mapped = qcow === undefined ? undefined : mapImage(image.path, qcow)
  if (qcow === undefined || mapped === undefined) return TE.right(allData(image))
  return pipe(
    mapped,
    TE.chain((extents) => withPresence(image, qcow, extents)),
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
