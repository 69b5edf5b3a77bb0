// The block status qemu-img compare -s compares: per run of the disk, qemu's BDRV_BLOCK_* flags, and the first offset where two images' differ.
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, QcowDevice, QcowError, QcowHeader } from '../index.js'
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

/** What the status of a run depends on in each layer: its size and the guest bytes one L2 table covers. */
interface LayerShape {
  readonly sizeBytes: number
  readonly unit: number
}

/**
 * The flags bdrv_block_status_above gives the part `[start, end)` of extent `e` of a disk of `size`
 * bytes whose layers are `layers` (0 the image itself). Allocated parts carry their flags, EOF when
 * they reach the disk's end. Unallocated zeroes of the bottom layer also keep that layer's EOF; past
 * the end of a shorter backing file, qemu synthesises allocated zeroes.
 */
const flagsOf = (e: Extent, end: number, size: number, layers: ReadonlyArray<LayerShape>): number => {
  const eof = end === size ? EOF : 0
  if (e.present) return (e.data ? DATA : 0) | (e.zero ? ZERO : 0) | (e.offset !== undefined ? OFFSET_VALID : 0) | ALLOCATED | eof
  if (e.depth < layers.length - 1) return ZERO | ALLOCATED | eof
  return ZERO | eof | (end === layers[e.depth].sizeBytes ? EOF : 0)
}

/**
 * qemu answers block status at most one L2 table at a time (its coverage: cluster size times entries
 * per table), so an EOF flag is only on the part of a run inside the last table: runs are cut at the
 * table boundaries of the image and of the layer at the run's depth.
 */
const splitAt = (extents: ReadonlyArray<Extent>, size: number, layers: ReadonlyArray<LayerShape>): StatusRun[] => {
  const out: StatusRun[] = []
  const next = (at: number, unit: number): number => (Math.floor(at / unit) + 1) * unit
  for (const e of extents) {
    let at = e.start
    const end = e.start + e.length
    while (at < end) {
      const stop = Math.min(end, next(at, layers[0].unit), next(at, layers[e.depth]?.unit ?? size))
      out.push({ start: at, end: stop, flags: flagsOf(e, stop, size, layers) })
      at = stop
    }
  }
  return out
}

/** The guest bytes one L2 table of a qcow2 layer covers. */
const l2Coverage = (h: QcowHeader): number => h.clusterSize * (h.clusterSize / 8)

/** A layer's shape: raw layers are one run; qcow2 layers report by L2 table. */
const shapeOf = (device: BlockDevice<QcowError>, sizeBytes: number): TE.TaskEither<QcowError, LayerShape> =>
  typeof (device as Partial<QcowDevice>).header === 'function'
    ? pipe(
        (device as QcowDevice).header(),
        TE.map((h) => ({ sizeBytes, unit: l2Coverage(h) })),
      )
    : TE.right({ sizeBytes, unit: Math.max(sizeBytes, 1) })

/** The shapes of the image (index 0) and of every layer below it. */
const layerShapes = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<LayerShape>> => {
  const qcow = image.qcow
  if (qcow === undefined) return TE.right([{ sizeBytes: image.sizeBytes, unit: Math.max(image.sizeBytes, 1) }])
  return pipe(
    TE.Do,
    TE.bind('top', () => shapeOf(qcow, image.sizeBytes)),
    TE.bind('below', () =>
      pipe(
        qcow.backingChain(),
        TE.chain(TE.traverseSeqArray((l) => shapeOf(l.device, l.sizeBytes))),
      ),
    ),
    TE.map(({ top, below }) => [top, ...below]),
    TE.mapLeft(fromQcowError(image.path)),
  )
}

/** The status runs of an image through its backing chain (a raw image or layer is allocated data throughout). */
export const statusRuns = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<StatusRun>> =>
  pipe(
    TE.Do,
    TE.bind('layers', () => layerShapes(image)),
    TE.bind('extents', () => extentsOf(image)),
    TE.map(({ layers, extents }) => splitAt(extents, image.sizeBytes, layers)),
  )

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
