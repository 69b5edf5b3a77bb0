// `-o key=value,...` strings decoded with io-ts into typed image-creation options, with range errors.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as t from 'io-ts/lib/index.js'
import { parseSize } from './size.js'
import type { Format } from './format.js'

/** Image-creation options given with `-o`, already checked. */
export interface ImageOptions {
  readonly size?: number
  readonly clusterSize?: number
  readonly compat?: '0.10' | '1.1'
  readonly refcountBits?: number
  readonly lazyRefcounts?: boolean
}

/** Splits `a=1,b=2` into pairs; `,,` stands for a literal comma, as in qemu's option syntax. */
export const splitKeyValues = (text: string): E.Either<string, ReadonlyArray<readonly [string, string]>> => {
  const items: string[] = []
  let current = ''
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ',' && text[i + 1] === ',') {
      current += ','
      i++
    } else if (text[i] === ',') {
      items.push(current)
      current = ''
    } else current += text[i]
  }
  items.push(current)
  const pairs: Array<readonly [string, string]> = []
  for (const item of items) {
    if (item === '') continue
    const eq = item.indexOf('=')
    if (eq <= 0) return E.left(`invalid option '${item}': options are given as key=value`)
    pairs.push([item.slice(0, eq), item.slice(eq + 1)])
  }
  return E.right(pairs)
}

/** An io-ts codec decoding a string with `parse`, whose failure message states the accepted values. */
const fromString = <A>(name: string, is: (u: unknown) => u is A, parse: (s: string) => E.Either<string, A>) =>
  new t.Type<A, string, unknown>(
    name,
    is,
    (u, c) =>
      typeof u === 'string'
        ? pipe(
            parse(u),
            E.fold(
              (message) => t.failure<A>(u, c, message),
              (a) => t.success(a),
            ),
          )
        : t.failure(u, c, `${name} must be given as text`),
    String,
  )

const isNumber = (u: unknown): u is number => typeof u === 'number'
const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0

/** `size`: any size qemu-img accepts. */
const SizeText = fromString('size', isNumber, parseSize)

/** `cluster_size`: a power of two from 512 bytes to 2 MiB. */
const ClusterSizeText = fromString('cluster_size', isNumber, (s) =>
  pipe(
    parseSize(s),
    E.filterOrElse(
      (n) => isPowerOfTwo(n) && n >= 512 && n <= 2 * 1024 * 1024,
      () => `cluster_size must be a power of two from 512 to 2M (2097152) bytes, got '${s}'`,
    ),
  ),
)

/** `compat`: `0.10` (or `v2`) and `1.1` (or `v3`). */
const CompatText = fromString(
  'compat',
  (u): u is '0.10' | '1.1' => u === '0.10' || u === '1.1',
  (s) =>
    s === '0.10' || s === 'v2'
      ? E.right('0.10' as const)
      : s === '1.1' || s === 'v3'
        ? E.right('1.1' as const)
        : E.left(`compat must be 0.10 (or v2) or 1.1 (or v3), got '${s}'`),
)

/** `refcount_bits`: 1, 2, 4, 8, 16, 32 or 64. */
const RefcountBitsText = fromString('refcount_bits', isNumber, (s) => {
  const n = /^[0-9]+$/.test(s) ? Number(s) : NaN
  return isPowerOfTwo(n) && n <= 64 ? E.right(n) : E.left(`refcount_bits must be 1, 2, 4, 8, 16, 32 or 64, got '${s}'`)
})

/** `lazy_refcounts`: on/off (also yes/no, true/false). */
const OnOffText = fromString(
  'lazy_refcounts',
  (u): u is boolean => typeof u === 'boolean',
  (s) =>
    ['on', 'yes', 'true'].includes(s)
      ? E.right(true)
      : ['off', 'no', 'false'].includes(s)
        ? E.right(false)
        : E.left(`lazy_refcounts must be on or off, got '${s}'`),
)

const Qcow2OptionsText = t.partial({
  size: SizeText,
  cluster_size: ClusterSizeText,
  compat: CompatText,
  refcount_bits: RefcountBitsText,
  lazy_refcounts: OnOffText,
})

/** The `-o` keys each format accepts. */
const ACCEPTED_KEYS: Readonly<Record<Format, ReadonlyArray<string>>> = {
  qcow2: Object.keys(Qcow2OptionsText.props),
  raw: ['size'],
}

const firstMessage = (errors: t.Errors): string => {
  const withMessage = errors.find((e) => e.message !== undefined)
  return withMessage?.message ?? 'invalid option value'
}

const checkCombination = (o: ImageOptions): E.Either<string, ImageOptions> => {
  if (o.compat === '0.10' && o.lazyRefcounts === true) return E.left('lazy_refcounts=on needs compat=1.1')
  if (o.compat === '0.10' && o.refcountBits !== undefined && o.refcountBits !== 16) {
    return E.left('refcount_bits other than 16 need compat=1.1')
  }
  return E.right(o)
}

/** Decodes every `-o` string given for an image of `format` into checked options. */
export const decodeImageOptions = (format: Format, texts: ReadonlyArray<string>): E.Either<string, ImageOptions> => {
  const accepted = ACCEPTED_KEYS[format]
  const record: Record<string, string> = {}
  for (const text of texts) {
    const pairs = splitKeyValues(text)
    if (E.isLeft(pairs)) return pairs
    for (const [key, value] of pairs.right) {
      if (!accepted.includes(key)) {
        return E.left(`invalid parameter '${key}' for format ${format}; accepted: ${accepted.join(', ')}`)
      }
      record[key] = value
    }
  }
  return pipe(
    Qcow2OptionsText.decode(record),
    E.mapLeft(firstMessage),
    E.map((o) => ({
      ...(o.size === undefined ? {} : { size: o.size }),
      ...(o.cluster_size === undefined ? {} : { clusterSize: o.cluster_size }),
      ...(o.compat === undefined ? {} : { compat: o.compat }),
      ...(o.refcount_bits === undefined ? {} : { refcountBits: o.refcount_bits }),
      ...(o.lazy_refcounts === undefined ? {} : { lazyRefcounts: o.lazy_refcounts }),
    })),
    E.chain(checkCombination),
  )
}
