// io-ts codecs for the option objects of create and connect (a trust boundary), with range checks and clear errors.
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import type { ConnectOptions } from './api.js'
import { invalidImage, unsupportedFeature, type QcowError } from './errors.js'
import { MAX_CLUSTER_BITS, MAX_L1_BYTES, MIN_CLUSTER_BITS } from './format/constants.js'
import { geometry } from './format/geometry.js'
import type { CreateParameters } from './format/layout.js'

const CreateOptionsCodec = t.intersection([
  t.type({ size: t.number }),
  t.partial({
    clusterSize: t.number,
    compat: t.union([t.literal('0.10'), t.literal('1.1')]),
    refcountBits: t.number,
    lazyRefcounts: t.boolean,
  }),
])

const ConnectOptionsCodec = t.partial({
  readOnly: t.boolean,
  l2CacheBytes: t.number,
  refcountCacheBytes: t.number,
  repairCorrupt: t.boolean,
})

/** Renders the first io-ts decoding error as "field: expected T, got V". */
export const describeDecodeError = (errors: t.Errors): string => {
  const first = errors[0]
  if (first === undefined) return 'invalid options'
  const path = first.context
    .map((c) => c.key)
    .filter((k) => k !== '' && !/^\d+$/.test(k))
    .join('.')
  const expected = first.context[first.context.length - 1]?.type.name ?? 'a valid value'
  return `${path === '' ? 'options' : path}: expected ${expected}, got ${JSON.stringify(first.value) ?? String(first.value)}`
}

const log2 = (n: number): number => Math.round(Math.log2(n))
const isPowerOfTwo = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && 2 ** log2(n) === n

/** Decodes and checks `Qcow.create` options into the parameters of a new image. */
export const decodeCreateOptions = (input: unknown): E.Either<QcowError, CreateParameters> => {
  const decoded = CreateOptionsCodec.decode(input)
  if (E.isLeft(decoded)) return E.left(invalidImage(`bad create options: ${describeDecodeError(decoded.left)}`))
  const o = decoded.right
  const clusterSize = o.clusterSize ?? 65536
  if (!isPowerOfTwo(clusterSize) || log2(clusterSize) < MIN_CLUSTER_BITS || log2(clusterSize) > MAX_CLUSTER_BITS) {
    return E.left(invalidImage(`clusterSize ${clusterSize} must be a power of two from 512 to 2097152 bytes`))
  }
  const version = o.compat === '0.10' ? 2 : 3
  const refcountBits = o.refcountBits ?? 16
  if (!isPowerOfTwo(refcountBits) || refcountBits > 64) return E.left(invalidImage(`refcountBits ${refcountBits} must be one of 1, 2, 4, 8, 16, 32, 64`))
  if (version === 2 && refcountBits !== 16) return E.left(unsupportedFeature(`${refcountBits}-bit refcounts`, "compat '0.10' images only support 16-bit refcounts"))
  if (version === 2 && o.lazyRefcounts === true) return E.left(unsupportedFeature('lazy refcounts', "compat '0.10' images do not support lazy refcounts; use compat '1.1'"))
  const clusterBits = log2(clusterSize)
  const g = geometry(clusterBits, log2(refcountBits))
  const maxSize = Math.min(Number.MAX_SAFE_INTEGER - (Number.MAX_SAFE_INTEGER % 512), (MAX_L1_BYTES / 8) * g.l2Coverage)
  if (!Number.isSafeInteger(o.size) || o.size < 0 || o.size % 512 !== 0 || o.size > maxSize) {
    return E.left(invalidImage(`size ${o.size} must be a multiple of 512 bytes from 0 to ${maxSize} for ${clusterSize}-byte clusters`))
  }
  return E.right({ size: o.size, clusterBits, version, refcountOrder: log2(refcountBits), lazyRefcounts: o.lazyRefcounts === true })
}

/** Connect options after decoding, with defaults applied later by the opener. */
export interface DecodedConnectOptions {
  readonly readOnly: boolean
  readonly l2CacheBytes?: number
  readonly refcountCacheBytes?: number
  /** Open a corrupt-marked image read-write for repair. */
  readonly repairCorrupt?: boolean
}

/** Largest cache size accepted (1 GiB). */
const MAX_CACHE_BYTES = 1024 * 1024 * 1024

/** Decodes and checks `Qcow.connect` options. */
export const decodeConnectOptions = (input: unknown): E.Either<QcowError, DecodedConnectOptions> => {
  const decoded = ConnectOptionsCodec.decode(input ?? {})
  if (E.isLeft(decoded)) return E.left(invalidImage(`bad connect options: ${describeDecodeError(decoded.left)}`))
  const o: ConnectOptions = decoded.right
  for (const [name, value] of [
    ['l2CacheBytes', o.l2CacheBytes],
    ['refcountCacheBytes', o.refcountCacheBytes],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0 || value > MAX_CACHE_BYTES)) {
      return E.left(invalidImage(`${name} ${value} must be an integer number of bytes from 0 to ${MAX_CACHE_BYTES}`))
    }
  }
  return E.right({
    readOnly: o.readOnly === true,
    repairCorrupt: o.repairCorrupt === true,
    ...(o.l2CacheBytes === undefined ? {} : { l2CacheBytes: o.l2CacheBytes }),
    ...(o.refcountCacheBytes === undefined ? {} : { refcountCacheBytes: o.refcountCacheBytes }),
  })
}
