// The map of a raw image as qemu-img map reports a file: data where the file system holds data, zero in its holes and past its end.
import { stat } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import type { FileBlockDevice } from '../index.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import type { Extent } from './extents.js'
import type { Image } from './image.js'
import { SECTOR } from './format.js'

/** A run of sectors `[start, end)` that holds data (`data`) or lies wholly in holes. */
interface Run {
  readonly start: number
  readonly end: number
  readonly data: boolean
}

/** The runs of a file device of `size` sectors, from its `seekMapped` and `seekUnmapped`. */
const runsOf = async (file: FileBlockDevice, size: number): Promise<E.Either<CliFailure, Run[]>> => {
  const runs: Run[] = []
  for (let at = 0; at < size; ) {
    const mapped = await file.seekMapped(at)()
    if (E.isLeft(mapped)) return E.left(fromQcowError(file.path)(mapped.left))
    if (mapped.right > at) {
      runs.push({ start: at, end: mapped.right, data: false })
      at = mapped.right
      continue
    }
    const unmapped = await file.seekUnmapped(at)()
    if (E.isLeft(unmapped)) return E.left(fromQcowError(file.path)(unmapped.left))
    const end = Math.max(at + 1, unmapped.right)
    runs.push({ start: at, end, data: true })
    at = end
  }
  return E.right(runs)
}

/** The file's length in bytes, which may end inside the last sector. */
const fileLength = async (path: string): Promise<E.Either<CliFailure, number>> => {
  try {
    return E.right((await stat(path)).size)
  } catch (cause) {
    return E.left(failure(`cannot read the file's length: ${cause instanceof Error ? cause.message : String(cause)}`, path))
  }
}

/**
 * A raw image's extents, as qemu-img map shows them: present throughout, data where the file holds
 * data and zero in its holes (as lseek SEEK_DATA/SEEK_HOLE tell; all data without FileBlock's native
 * addon), and zero past the file's end when it ends inside its last sector.
 */
export const rawExtents = async (image: Image): Promise<E.Either<CliFailure, Extent[]>> => {
  const runs = await runsOf(image.file, image.sizeBytes / SECTOR)
  if (E.isLeft(runs)) return runs
  const length = await fileLength(image.path)
  if (E.isLeft(length)) return length
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
