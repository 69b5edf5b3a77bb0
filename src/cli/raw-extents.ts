// The map of a raw image as qemu-img map reports a file: data where the file system holds data, zero in its holes and past its end.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice, QcowError } from '../index.js'
import { fromQcowError, type CliFailure } from './failure.js'
import type { Extent } from './extents.js'
import type { Image } from './image.js'
import { SECTOR } from './format.js'

/** A run of sectors `[start, end)` that holds data (`data`) or lies wholly in holes. */
interface Run {
  readonly start: number
  readonly end: number
  readonly data: boolean
}

/** The runs of a device of `size` sectors, from its `seekMapped` and `seekUnmapped` (one data run without them). */
const runsOf = async (disk: BlockDevice<QcowError>, size: number): Promise<E.Either<QcowError, Run[]>> => {
  const { seekMapped, seekUnmapped } = disk
  if (seekMapped === undefined || seekUnmapped === undefined) return E.right(size === 0 ? [] : [{ start: 0, end: size, data: true }])
  const runs: Run[] = []
  for (let at = 0; at < size; ) {
    const mapped = await seekMapped.call(disk, at)()
    if (E.isLeft(mapped)) return mapped
    if (mapped.right > at) {
      runs.push({ start: at, end: mapped.right, data: false })
      at = mapped.right
      continue
    }
    const unmapped = await seekUnmapped.call(disk, at)()
    if (E.isLeft(unmapped)) return unmapped
    const end = Math.max(at + 1, unmapped.right)
    runs.push({ start: at, end, data: true })
    at = end
  }
  return E.right(runs)
}

/**
 * A raw image's extents, as qemu-img map shows them: present throughout, data where the file holds
 * data and zero in its holes (as FileBlock's seeks tell; all data without its native addon), and zero
 * past the file's end when it ends inside its last sector.
 */
export const rawExtents = async (image: Image): Promise<E.Either<CliFailure, Extent[]>> => {
  const runs = await runsOf(image.disk, image.sizeBytes / SECTOR)
  if (E.isLeft(runs)) return E.left(fromQcowError(image.path)(runs.left))
  const length = await image.file.byteLength()()
  if (E.isLeft(length)) return E.left(fromQcowError(image.path)(length.left))
  const extent = (start: number, end: number, data: boolean): Extent => ({
    start, length: end - start, depth: 0, present: true, zero: !data, data, offset: start, file: image.path,
  })
  const out: Extent[] = []
  for (const r of runs.right) {
    const start = r.start * SECTOR
    const end = r.end * SECTOR
    if (r.data && start < length.right && length.right < end) out.push(extent(start, length.right, true), extent(length.right, end, false))
    else out.push(extent(start, end, r.data))
  }
  return E.right(out)
}
