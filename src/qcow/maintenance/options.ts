// io-ts codecs for the option objects of resize, writeZeroes and repair (callers may be plain JS).
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import type { RepairOptions, ResizeOptions, WriteZeroesOptions } from '../api.js'
import { invalidImage, type QcowError } from '../errors.js'

const ResizeOptionsCodec = t.partial({ allowShrink: t.boolean })
const WriteZeroesOptionsCodec = t.partial({ unmap: t.boolean })
const RepairOptionsCodec = t.partial({ leaks: t.boolean, all: t.boolean })

const decodeWith =
  <A>(codec: t.Decoder<unknown, A>, what: string) =>
  (input: unknown): E.Either<QcowError, A> => {
    const decoded = codec.decode(input ?? {})
    return E.isLeft(decoded) ? E.left(invalidImage(`bad ${what} options: expected ${codec.name}, got ${JSON.stringify(input) ?? String(input)}`)) : decoded
  }

/** Decodes `resize` options. */
export const decodeResizeOptions: (input: unknown) => E.Either<QcowError, ResizeOptions> = decodeWith(ResizeOptionsCodec, 'resize')
/** Decodes `writeZeroes` options. */
export const decodeWriteZeroesOptions: (input: unknown) => E.Either<QcowError, WriteZeroesOptions> = decodeWith(WriteZeroesOptionsCodec, 'writeZeroes')
/** Decodes `repair` options. */
export const decodeRepairOptions: (input: unknown) => E.Either<QcowError, RepairOptions> = decodeWith(RepairOptionsCodec, 'repair')
