// Header edits for backing files: the backing name and the backing-format extension, set or removed.
import * as E from 'fp-ts/lib/Either.js'
import { invalidImage, type QcowError } from '../errors.js'
import { EXT_BACKING_FORMAT, MAX_BACKING_FILE_SIZE } from '../format/constants.js'
import { serializeHeader, type ParsedHeader } from '../format/header.js'

/** What a header says about its backing file. */
export interface BackingName {
  readonly file: string
  readonly format?: string
}

/**
 * The header with `backing` recorded (or, when undefined, no backing file and no format extension).
 * The format extension goes first, as QEMU writes it. Refuses names that would not fit cluster 0.
 */
export const withBacking = (h: ParsedHeader, backing: BackingName | undefined): E.Either<QcowError, ParsedHeader> => {
  const others = h.extensions.filter((e) => e.type !== EXT_BACKING_FORMAT)
  const format = backing?.format
  const extensions = format === undefined ? others : [{ type: EXT_BACKING_FORMAT, data: new TextEncoder().encode(format) }, ...others]
  const { backingFile: _file, backingFormat: _format, ...rest } = h
  const nameBytes = backing === undefined ? 0 : new TextEncoder().encode(backing.file).byteLength
  if (nameBytes > MAX_BACKING_FILE_SIZE) return E.left(invalidImage(`backing file name of ${nameBytes} bytes is longer than ${MAX_BACKING_FILE_SIZE}`))
  const next: ParsedHeader = {
    ...rest,
    extensions,
    backingFileOffset: 0,
    backingFileSize: nameBytes,
    ...(backing === undefined ? {} : { backingFile: backing.file }),
    ...(format === undefined ? {} : { backingFormat: format }),
  }
  const bytes = serializeHeader(next)
  if (bytes === undefined) return E.left(invalidImage(`the backing file name does not fit in the ${h.clusterSize}-byte header cluster`))
  const offset = backing === undefined ? 0 : bytes.byteLength - nameBytes
  return E.right({ ...next, backingFileOffset: offset })
}
