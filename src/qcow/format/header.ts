// The qcow2 header: parsing and validating cluster 0 (fields, extensions, backing name) and writing it back.
import * as E from 'fp-ts/lib/Either.js'
import type { FeatureName, HeaderExtension, QcowHeader } from '../api.js'
import { invalidImage, unsupportedFeature, type QcowError } from '../errors.js'
import {
  BITMAPS_EXT_LENGTH,
  COMPAT_LAZY_REFCOUNTS,
  CRYPTO_EXT_LENGTH,
  EXT_BACKING_FORMAT,
  EXT_BITMAPS,
  EXT_CRYPTO,
  EXT_DATA_FILE,
  EXT_END,
  EXT_FEATURE_TABLE,
  HEADER,
  INCOMPAT_COMPRESSION,
  INCOMPAT_CORRUPT,
  INCOMPAT_DATA_FILE,
  INCOMPAT_DIRTY,
  INCOMPAT_EXTL2,
  KNOWN_INCOMPAT_MASK,
  MAX_BACKING_FILE_SIZE,
  MAX_BACKING_FORMAT_LENGTH,
  MAX_CLUSTER_BITS,
  MAX_REFCOUNT_ORDER,
  MIN_CLUSTER_BITS,
  QCOW_MAGIC,
  V2_HEADER_LENGTH,
  V3_HEADER_LENGTH,
  V3_MIN_HEADER_LENGTH,
} from './constants.js'
import { decodeFeatureTable, featureName, setBits } from './features.js'

/** The parsed header plus every extension in its on-disk order (known ones included), for rewrites. */
export interface ParsedHeader extends QcowHeader {
  readonly extensions: ReadonlyArray<HeaderExtension>
}

/** Bytes a reader needs before it can learn the cluster size: the version 2 header. */
export const HEADER_PROBE_BYTES = V2_HEADER_LENGTH

const u64 = (view: DataView, at: number): bigint => view.getBigUint64(at)
const bit = (field: bigint, n: number): boolean => ((field >> BigInt(n)) & 1n) === 1n
const KNOWN_EXTENSIONS = new Set([EXT_BACKING_FORMAT, EXT_FEATURE_TABLE])

/** Reads the cluster size from a header prefix (at least 72 bytes), validating magic, version and cluster_bits. */
export const probeClusterBits = (bytes: Uint8Array): E.Either<QcowError, number> => {
  if (bytes.byteLength < HEADER_PROBE_BYTES) return E.left(invalidImage(`the device holds ${bytes.byteLength} bytes, too few for a qcow2 header`))
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(HEADER.magic) !== QCOW_MAGIC) return E.left(invalidImage('bad magic: this is not a qcow2 image'))
  const version = view.getUint32(HEADER.version)
  if (version !== 2 && version !== 3) return E.left(unsupportedFeature(`qcow2 version ${version}`, 'only versions 2 and 3 are supported'))
  const clusterBits = view.getUint32(HEADER.clusterBits)
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    return E.left(invalidImage(`cluster_bits ${clusterBits} is outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS} (512 B to 2 MiB clusters)`))
  }
  return E.right(clusterBits)
}

/** Converts a 64-bit field to a number, refusing values past 2^53. */
const safe = (value: bigint, what: string): E.Either<QcowError, number> =>
  value > BigInt(Number.MAX_SAFE_INTEGER) ? E.left(invalidImage(`${what} ${value} is too large`)) : E.right(Number(value))

interface Extensions {
  readonly extensions: HeaderExtension[]
  readonly featureNames: FeatureName[]
  readonly backingFormat?: string
}

const decodeExtensions = (
  bytes: Uint8Array,
  view: DataView,
  start: number,
  end: number,
  incompatible: bigint,
  cryptMethod: number,
): E.Either<QcowError, Extensions> => {
  const extensions: HeaderExtension[] = []
  let featureNames: FeatureName[] = []
  let backingFormat: string | undefined
  let hasDataFileName = false
  let offset = start
  while (offset < end) {
    if (offset + 8 > end) return E.left(invalidImage(`header extension at byte ${offset} does not fit before byte ${end}`))
    const type = view.getUint32(offset)
    const length = view.getUint32(offset + 4)
    offset += 8
    if (length > end - offset) return E.left(invalidImage(`header extension 0x${type.toString(16)} claims ${length} bytes, past byte ${end}`))
    if (type === EXT_END) break
    const data = bytes.slice(offset, offset + length)
    switch (type) {
      case EXT_BACKING_FORMAT:
        if (length >= MAX_BACKING_FORMAT_LENGTH) return E.left(invalidImage(`backing format name of ${length} bytes is too long (at most ${MAX_BACKING_FORMAT_LENGTH - 1})`))
        backingFormat = new TextDecoder().decode(data)
        break
      case EXT_FEATURE_TABLE:
        featureNames = decodeFeatureTable(data)
        break
      case EXT_BITMAPS:
        if (length !== BITMAPS_EXT_LENGTH) return E.left(invalidImage(`bitmaps extension has ${length} bytes, not ${BITMAPS_EXT_LENGTH}`))
        break
      case EXT_CRYPTO:
        if (cryptMethod !== 2) return E.left(invalidImage('encryption header extension present but the image does not use LUKS'))
        if (length !== CRYPTO_EXT_LENGTH) return E.left(invalidImage(`encryption header extension has ${length} bytes, not ${CRYPTO_EXT_LENGTH}`))
        break
      case EXT_DATA_FILE:
        hasDataFileName = true
        break
    }
    extensions.push({ type, data })
    offset += Math.ceil(length / 8) * 8
  }
  if (hasDataFileName && !bit(incompatible, INCOMPAT_DATA_FILE)) {
    return E.left(invalidImage('an external data file name is given but the image does not use an external data file'))
  }
  return E.right(backingFormat === undefined ? { extensions, featureNames } : { extensions, featureNames, backingFormat })
}

/**
 * Parses and validates the header in `bytes` (cluster 0, or as much of it as the device holds;
 * missing bytes read as zeroes). Refuses what QEMU refuses, and features this library lacks.
 */
export const parseHeader = (bytes: Uint8Array): E.Either<QcowError, ParsedHeader> => {
  const probed = probeClusterBits(bytes)
  if (E.isLeft(probed)) return probed
  const clusterBits = probed.right
  const clusterSize = 2 ** clusterBits
  const cluster = new Uint8Array(clusterSize)
  cluster.set(bytes.subarray(0, clusterSize))
  const view = new DataView(cluster.buffer)
  const version = view.getUint32(HEADER.version) as 2 | 3

  const v3 = version === 3
  const incompatibleFeatures = v3 ? u64(view, HEADER.incompatibleFeatures) : 0n
  const compatibleFeatures = v3 ? u64(view, HEADER.compatibleFeatures) : 0n
  const autoclearFeatures = v3 ? u64(view, HEADER.autoclearFeatures) : 0n
  const refcountOrder = v3 ? view.getUint32(HEADER.refcountOrder) : 4
  const headerLength = v3 ? view.getUint32(HEADER.headerLength) : V2_HEADER_LENGTH
  if (v3 && headerLength < V3_MIN_HEADER_LENGTH) return E.left(invalidImage(`header_length ${headerLength} is below ${V3_MIN_HEADER_LENGTH}`))
  if (v3 && headerLength % 8 !== 0) return E.left(invalidImage(`header_length ${headerLength} is not a multiple of 8`))
  if (headerLength > clusterSize) return E.left(invalidImage(`header_length ${headerLength} exceeds the ${clusterSize}-byte cluster`))

  const compressionType = v3 && headerLength > V3_MIN_HEADER_LENGTH ? cluster[HEADER.compressionType] : 0
  if (compressionType > 1) return E.left(invalidImage(`unknown compression type ${compressionType} (0 deflate, 1 zstd)`))
  if ((compressionType !== 0) !== bit(incompatibleFeatures, INCOMPAT_COMPRESSION)) {
    return E.left(invalidImage(`compression type ${compressionType} disagrees with incompatible feature bit ${INCOMPAT_COMPRESSION}`))
  }

  const backingFileOffset64 = u64(view, HEADER.backingFileOffset)
  const backingFileSize = view.getUint32(HEADER.backingFileSize)
  if (backingFileOffset64 > BigInt(clusterSize)) return E.left(invalidImage(`backing file name offset ${backingFileOffset64} lies outside the header cluster`))
  const backingFileOffset = Number(backingFileOffset64)
  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_FILE_SIZE) return E.left(invalidImage(`backing file name of ${backingFileSize} bytes is longer than ${MAX_BACKING_FILE_SIZE}`))
    if (backingFileSize > clusterSize - backingFileOffset) return E.left(invalidImage('backing file name runs past the header cluster'))
  }

  const cryptMethod = view.getUint32(HEADER.cryptMethod)
  if (refcountOrder > MAX_REFCOUNT_ORDER) return E.left(invalidImage(`refcount_order ${refcountOrder} exceeds ${MAX_REFCOUNT_ORDER} (64-bit refcounts)`))
  const refcountTableClusters = view.getUint32(HEADER.refcountTableClusters)
  if (refcountTableClusters === 0) return E.left(invalidImage('refcount_table_clusters is 0: the image has no refcount table'))

  const extEnd = backingFileOffset !== 0 ? backingFileOffset : clusterSize
  const decoded = decodeExtensions(cluster, view, headerLength, extEnd, incompatibleFeatures, cryptMethod)
  if (E.isLeft(decoded)) return decoded
  const { extensions, featureNames, backingFormat } = decoded.right

  const unknownIncompatible = incompatibleFeatures & ~KNOWN_INCOMPAT_MASK
  if (unknownIncompatible !== 0n) {
    const names = setBits(unknownIncompatible).map((b) => featureName(featureNames, 'incompatible', b))
    return E.left(unsupportedFeature(names.join(', '), 'unknown incompatible feature bits are set'))
  }
  if (cryptMethod !== 0) return E.left(unsupportedFeature(cryptMethod === 1 ? 'AES encryption' : cryptMethod === 2 ? 'LUKS encryption' : `encryption method ${cryptMethod}`))
  if (bit(incompatibleFeatures, INCOMPAT_DATA_FILE)) return E.left(unsupportedFeature(featureName(featureNames, 'incompatible', INCOMPAT_DATA_FILE)))
  if (bit(incompatibleFeatures, INCOMPAT_EXTL2)) return E.left(unsupportedFeature(featureName(featureNames, 'incompatible', INCOMPAT_EXTL2)))

  const fields = [
    safe(u64(view, HEADER.size), 'virtual size'),
    safe(u64(view, HEADER.l1TableOffset), 'l1_table_offset'),
    safe(u64(view, HEADER.refcountTableOffset), 'refcount_table_offset'),
    safe(u64(view, HEADER.snapshotsOffset), 'snapshots_offset'),
  ]
  for (const f of fields) if (E.isLeft(f)) return f
  const [size, l1TableOffset, refcountTableOffset, snapshotsOffset] = fields.map((f) => (f as E.Right<number>).right)

  const knownEnd = v3 ? Math.min(headerLength, V3_HEADER_LENGTH) : V2_HEADER_LENGTH
  const backingFile =
    backingFileOffset !== 0 && backingFileSize > 0
      ? new TextDecoder().decode(cluster.subarray(backingFileOffset, backingFileOffset + backingFileSize))
      : undefined
  const header: ParsedHeader = {
    version,
    clusterBits,
    clusterSize,
    size,
    cryptMethod,
    l1Size: view.getUint32(HEADER.l1Size),
    l1TableOffset,
    refcountTableOffset,
    refcountTableClusters,
    nbSnapshots: view.getUint32(HEADER.nbSnapshots),
    snapshotsOffset,
    backingFileOffset,
    backingFileSize,
    ...(backingFile === undefined ? {} : { backingFile }),
    ...(backingFormat === undefined ? {} : { backingFormat }),
    incompatibleFeatures,
    compatibleFeatures,
    autoclearFeatures,
    refcountOrder,
    refcountBits: 2 ** refcountOrder,
    headerLength,
    compressionType,
    featureNames,
    unknownExtensions: extensions.filter((e) => !KNOWN_EXTENSIONS.has(e.type)),
    unknownHeaderBytes: cluster.slice(knownEnd, headerLength),
    dirty: bit(incompatibleFeatures, INCOMPAT_DIRTY),
    corrupt: bit(incompatibleFeatures, INCOMPAT_CORRUPT),
    lazyRefcounts: bit(compatibleFeatures, COMPAT_LAZY_REFCOUNTS),
    extensions,
  }
  return E.right(header)
}

/** Recomputes the convenience flags after feature fields change. */
export const withFeatures = (h: ParsedHeader, incompatibleFeatures: bigint, autoclearFeatures = h.autoclearFeatures): ParsedHeader => ({
  ...h,
  incompatibleFeatures,
  autoclearFeatures,
  dirty: bit(incompatibleFeatures, INCOMPAT_DIRTY),
  corrupt: bit(incompatibleFeatures, INCOMPAT_CORRUPT),
})

/** Sets or clears one incompatible feature bit. */
export const withIncompatibleBit = (h: ParsedHeader, n: number, on: boolean): ParsedHeader =>
  withFeatures(h, on ? h.incompatibleFeatures | (1n << BigInt(n)) : h.incompatibleFeatures & ~(1n << BigInt(n)))

/** Bytes the serialized header occupies (fields, unknown bytes, extensions, end marker and backing name). */
const extensionsBytes = (h: ParsedHeader): number => h.extensions.reduce((n, e) => n + 8 + Math.ceil(e.data.byteLength / 8) * 8, 0) + 8

/**
 * Serializes the header as it sits at the start of cluster 0: the fields, any unknown header bytes,
 * every extension in order, the end marker and the backing file name. Refuses (returns undefined
 * when) it would not fit in one cluster.
 */
export const serializeHeader = (h: ParsedHeader): Uint8Array | undefined => {
  const extStart = h.headerLength
  const extEnd = extStart + extensionsBytes(h)
  const name = h.backingFile === undefined ? undefined : new TextEncoder().encode(h.backingFile)
  const nameAt = name === undefined ? 0 : h.backingFileOffset >= extEnd ? h.backingFileOffset : extEnd
  const total = name === undefined ? extEnd : nameAt + name.byteLength
  if (total > h.clusterSize) return undefined
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  view.setUint32(HEADER.magic, QCOW_MAGIC)
  view.setUint32(HEADER.version, h.version)
  view.setBigUint64(HEADER.backingFileOffset, BigInt(nameAt))
  view.setUint32(HEADER.backingFileSize, name === undefined ? 0 : name.byteLength)
  view.setUint32(HEADER.clusterBits, h.clusterBits)
  view.setBigUint64(HEADER.size, BigInt(h.size))
  view.setUint32(HEADER.cryptMethod, h.cryptMethod)
  view.setUint32(HEADER.l1Size, h.l1Size)
  view.setBigUint64(HEADER.l1TableOffset, BigInt(h.l1TableOffset))
  view.setBigUint64(HEADER.refcountTableOffset, BigInt(h.refcountTableOffset))
  view.setUint32(HEADER.refcountTableClusters, h.refcountTableClusters)
  view.setUint32(HEADER.nbSnapshots, h.nbSnapshots)
  view.setBigUint64(HEADER.snapshotsOffset, BigInt(h.snapshotsOffset))
  let at = V2_HEADER_LENGTH
  if (h.version === 3) {
    view.setBigUint64(HEADER.incompatibleFeatures, h.incompatibleFeatures)
    view.setBigUint64(HEADER.compatibleFeatures, h.compatibleFeatures)
    view.setBigUint64(HEADER.autoclearFeatures, h.autoclearFeatures)
    view.setUint32(HEADER.refcountOrder, h.refcountOrder)
    view.setUint32(HEADER.headerLength, h.headerLength)
    if (h.headerLength > V3_MIN_HEADER_LENGTH) out[HEADER.compressionType] = h.compressionType
    at = Math.min(h.headerLength, V3_HEADER_LENGTH)
  }
  out.set(h.unknownHeaderBytes, at)
  at = extStart
  for (const e of h.extensions) {
    view.setUint32(at, e.type)
    view.setUint32(at + 4, e.data.byteLength)
    out.set(e.data, at + 8)
    at += 8 + Math.ceil(e.data.byteLength / 8) * 8
  }
  if (name !== undefined) out.set(name, nameAt)
  return out
}
