// The block status qemu-img compare -s compares: per run of the disk, qemu's BDRV_BLOCK_* flags, and the first offset where two images' differ.
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { extentsOf, type Extent } from './extents.js'
import { fromQcowError, type CliFailure } from './failure.js'
import type { Image } from './image.js'

/** qemu's BDRV_BLOCK_DATA, _ZERO, _OFFSET_VALID, _ALLOCATED and _EOF. */
const DATA = 0x01
const ZERO = 0x02
const OFFSET_VALID = 0x04
const ALLOCATED = 0x10
const EOF = 0x20

/** A run of the disk with the status bdrv_block_status_above reports for it. */
export interface StatusRun {
  readonly start: number
  readonly end: number
  readonly flags: number
}

/** The flags of an extent (a run reaching the end of the disk also carries EOF). */
const flagsOf = (e: Extent, atEnd: boolean): number =>
  (e.data ? DATA : 0) | (e.zero ? ZERO : 0) | (e.offset !== undefined ? OFFSET_VALID : 0) | (e.present ? ALLOCATED : 0) | (atEnd ? EOF : 0)

/**
 * qemu answers block status at most one L2 table at a time (its coverage: cluster size times entries
 * per table), so the EOF flag is only on the part of the last run inside the last table.
 */
const splitAt = (extents: ReadonlyArray<Extent>, unit: number, size: number): StatusRun[] => {
  const out: StatusRun[] = []
  for (const e of extents) {
    let at = e.start
    const end = e.start + e.length
    while (at < end) {
      const stop = Math.min(end, (Math.floor(at / unit) + 1) * unit)
      out.push({ start: at, end: stop, flags: flagsOf(e, stop === size) })
      at = stop
    }
  }
  return out
}

/** The status runs of an image: a raw image is allocated data throughout; qcow2 runs are cut at L2 table boundaries. */
export const statusRuns = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<StatusRun>> => {
  const qcow = image.qcow
  return pipe(
    TE.Do,
    TE.bind('unit', () =>
      qcow === undefined
        ? TE.right(image.sizeBytes)
        : pipe(
            qcow.header(),
            TE.mapLeft(fromQcowError(image.path)),
            TE.map((h) => h.clusterSize * (h.clusterSize / 8)),
          ),
    ),
    TE.bind('extents', () => extentsOf(image)),
    TE.map(({ unit, extents }) => splitAt(extents, Math.max(unit, 1), image.sizeBytes)),
  )
}

/** The first offset where the two images' status differs (qemu-img compare walks chunks where both are constant), or undefined. */
export const firstStatusMismatch = (a: ReadonlyArray<StatusRun>, b: ReadonlyArray<StatusRun>): number | undefined => {
  let i = 0
  let j = 0
  let at = 0
  while (i < a.length && j < b.length) {
    if (a[i].flags !== b[j].flags) return at
    at = Math.min(a[i].end, b[j].end)
    if (a[i].end === at) i++
    if (b[j].end === at) j++
  }
  return undefined
}
