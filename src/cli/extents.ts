// The allocation of an image's virtual disk through its backing chain, as `qemu-img map` reports it (with depth).
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BackingLayerInfo, MapExtent, QcowDevice } from '../index.js'
import { fromQcowError, type CliFailure } from './failure.js'
import type { Image } from './image.js'
import { combinePaths } from './paths.js'
import { rawExtents } from './raw-extents.js'

/** A run of the virtual disk with one status, as `qemu-img map --output=json` shows it, and its layer's file. */
export interface Extent extends MapExtent {
  /** The file of the layer (qemu-img map's human `File` column). */
  readonly file: string
}

/** The file of the image and of each layer below it, as qemu names them (relative to the layer above). */
const layerFiles = (image: Image, qcow: QcowDevice): TE.TaskEither<CliFailure, ReadonlyArray<string>> =>
  pipe(
    qcow.backingChain(),
    TE.mapLeft(fromQcowError(image.path)),
    TE.map((chain: ReadonlyArray<BackingLayerInfo>) => {
      const files: string[] = [image.path]
      for (const l of chain) files.push(l.name === undefined ? '' : combinePaths(files[files.length - 1], l.name))
      return files
    }),
  )

/** The engine's map through the chain, each extent with the file of the layer at its depth. */
const qcowExtents = (image: Image, qcow: QcowDevice): TE.TaskEither<CliFailure, Extent[]> =>
  pipe(
    TE.Do,
    TE.bind('files', () => layerFiles(image, qcow)),
    TE.bind('chain', () => pipe(qcow.map(), TE.mapLeft(fromQcowError(image.path)))),
    TE.map(({ files, chain }) => chain.map((e) => ({ ...e, file: files[e.depth] ?? '' }))),
  )

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
const mergeExtents = (extents: ReadonlyArray<Extent>): Extent[] => {
  const out: Extent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    if (last !== undefined && mergeable(last, e)) out[out.length - 1] = { ...last, length: last.length + e.length }
    else out.push(e)
  }
  return out
}

/**
 * The image's extents through its backing chain; a raw image's come from its file's holes (see
 * `rawExtents`). An empty disk has one empty extent, unallocated, as qemu-img map prints it.
 */
export const extentsOf = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Extent>> =>
  image.sizeBytes === 0
    ? TE.right([{ start: 0, length: 0, depth: 0, present: false, zero: false, data: false, file: image.path }])
    : image.qcow === undefined
      ? () => rawExtents(image)
      : pipe(qcowExtents(image, image.qcow), TE.map(mergeExtents))

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
