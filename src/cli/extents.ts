// The allocation of an image's virtual disk through its backing chain, as `qemu-img map` reports it (with depth).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BackingLayerInfo, BlockDevice, QcowDevice, QcowError } from '../index.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { SECTOR } from './format.js'
import type { Image } from './image.js'
import { combinePaths } from './paths.js'

/** A run of the virtual disk with one status, in bytes, as `qemu-img map --output=json` shows it. */
export interface Extent {
  readonly start: number
  readonly length: number
  /** The layer that decides the status: 0 the image itself, 1 its backing file, and so on. */
  readonly depth: number
  /** Allocated in that layer (a data, compressed or zero cluster, or any part of a raw layer). */
  readonly present: boolean
  /** Reads as zeroes. */
  readonly zero: boolean
  /** Holds data (may still happen to be zero). */
  readonly data: boolean
  /** Host offset of uncompressed data in the layer's file. */
  readonly offset?: number
  /** The file of the layer (qemu-img map's human `File` column). */
  readonly file: string
}

/** One layer of the chain: its device (a qcow device for qcow2 layers), size and file name. */
interface Layer {
  readonly qcow: QcowDevice | undefined
  readonly sizeBytes: number
  readonly file: string
}

/** A backing device reported as qcow2 is a qcow device (it has the qcow2 header). */
const asQcow = (device: BlockDevice<QcowError>): QcowDevice | undefined =>
  typeof (device as Partial<QcowDevice>).map === 'function' ? (device as QcowDevice) : undefined

/** The image and the layers below it, each named by its path as qemu resolves it (relative to the layer above). */
const layersOf = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Layer>> => {
  const top: Layer = { qcow: image.qcow, sizeBytes: image.sizeBytes, file: image.path }
  if (image.qcow === undefined) return TE.right([top])
  return pipe(
    image.qcow.backingChain(),
    TE.mapLeft(fromQcowError(image.path)),
    TE.map((chain: ReadonlyArray<BackingLayerInfo>) => {
      const layers: Layer[] = [top]
      for (const l of chain) {
        const above = layers[layers.length - 1].file
        layers.push({
          qcow: l.format === 'qcow2' ? asQcow(l.device) : undefined,
          sizeBytes: l.sizeBytes,
          file: l.name === undefined ? '' : combinePaths(above, l.name),
        })
      }
      return layers
    }),
  )
}

/** The extents of `[from, to)` seen from layer `k` down. */
const layerExtents = (path: string, layers: ReadonlyArray<Layer>, k: number, from: number, to: number): TE.TaskEither<CliFailure, Extent[]> => {
  const layer = layers[k]
  if (layer.qcow === undefined) {
    return TE.right([{ start: from, length: to - from, depth: k, present: true, zero: false, data: true, offset: from, file: layer.file }])
  }
  const below = layers[k + 1]
  return pipe(
    layer.qcow.map(from / SECTOR, (to - from) / SECTOR),
    TE.mapLeft(fromQcowError(path)),
    TE.chain((own) => async () => {
      const out: Extent[] = []
      for (const e of own) {
        const end = e.start + e.length
        if (e.present || below === undefined) {
          out.push({ start: e.start, length: e.length, depth: k, present: e.present, zero: e.zero, data: e.data, file: layer.file, ...(e.offset === undefined ? {} : { offset: e.offset }) })
          continue
        }
        const split = Math.min(end, Math.max(e.start, below.sizeBytes))
        if (split > e.start) {
          const lower = await layerExtents(path, layers, k + 1, e.start, split)()
          if (E.isLeft(lower)) return lower
          out.push(...lower.right)
        }
        if (end > split) out.push({ start: split, length: end - split, depth: k, present: false, zero: true, data: false, file: layer.file })
      }
      return E.right(out)
    }),
  )
}

/** Neighbours merge when qemu-img map would merge them: same depth, flags and file, contiguous offsets. */
const mergeable = (a: Extent, b: Extent): boolean =>
  a.start + a.length === b.start &&
  a.depth === b.depth &&
  a.present === b.present &&
  a.zero === b.zero &&
  a.data === b.data &&
  a.file === b.file &&
  (a.offset === undefined ? b.offset === undefined : b.offset === a.offset + a.length)

/** Merges neighbouring extents as qemu-img map does. */
export const mergeExtents = (extents: ReadonlyArray<Extent>): Extent[] => {
  const out: Extent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    if (last !== undefined && mergeable(last, e)) out[out.length - 1] = { ...last, length: last.length + e.length }
    else out.push(e)
  }
  return out
}

/**
 * The image's extents through its backing chain. A raw image, or a raw layer, is data throughout
 * (Node cannot ask the file system for holes, so where qemu-img reports a raw hole as zero, this says data).
 */
export const extentsOf = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Extent>> =>
  image.sizeBytes === 0
    ? TE.right([])
    : pipe(
        layersOf(image),
        TE.filterOrElse(
          (layers) => layers.every((l, i) => i === 0 || l.file !== '' ),
          () => failure('a backing layer has no name', image.path),
        ),
        TE.chain((layers) => layerExtents(image.path, layers, 0, 0, image.sizeBytes)),
        TE.map(mergeExtents),
      )

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
