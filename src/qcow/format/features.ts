// Feature bits: the names QEMU gives them and the feature-name table header extension.
import type { FeatureName } from '../api.js'

/** Size of one feature-name table entry. */
export const FEATURE_ENTRY_SIZE = 48
/** Longest name in one entry. */
const NAME_BYTES = 46

/** The feature names QEMU 7.2 writes, in its order. */
export const QEMU_FEATURE_NAMES: ReadonlyArray<FeatureName> = [
  { type: 'incompatible', bit: 0, name: 'dirty bit' },
  { type: 'incompatible', bit: 1, name: 'corrupt bit' },
  { type: 'incompatible', bit: 2, name: 'external data file' },
  { type: 'incompatible', bit: 3, name: 'compression type' },
  { type: 'incompatible', bit: 4, name: 'extended L2 entries' },
  { type: 'compatible', bit: 0, name: 'lazy refcounts' },
  { type: 'autoclear', bit: 0, name: 'bitmaps' },
  { type: 'autoclear', bit: 1, name: 'raw external data' },
]

/** QEMU writes the feature-name table only for clusters of at least this size. */
export const FEATURE_TABLE_MIN_CLUSTER_SIZE = 8192

const TYPE_CODES = ['incompatible', 'compatible', 'autoclear'] as const

/** Decodes a feature-name table; entries with an unknown type are skipped. */
export const decodeFeatureTable = (data: Uint8Array): FeatureName[] => {
  const names: FeatureName[] = []
  const decoder = new TextDecoder('utf-8', { fatal: false })
  for (let at = 0; at + FEATURE_ENTRY_SIZE <= data.byteLength; at += FEATURE_ENTRY_SIZE) {
    const type = TYPE_CODES[data[at]]
    if (type === undefined) continue
    const raw = data.subarray(at + 2, at + 2 + NAME_BYTES)
    const nul = raw.indexOf(0)
    names.push({ type, bit: data[at + 1], name: decoder.decode(nul < 0 ? raw : raw.subarray(0, nul)) })
  }
  return names
}

/** Encodes a feature-name table (names longer than 46 bytes are cut). */
export const encodeFeatureTable = (names: ReadonlyArray<FeatureName>): Uint8Array => {
  const out = new Uint8Array(names.length * FEATURE_ENTRY_SIZE)
  const encoder = new TextEncoder()
  names.forEach((f, i) => {
    const at = i * FEATURE_ENTRY_SIZE
    out[at] = TYPE_CODES.indexOf(f.type)
    out[at + 1] = f.bit
    out.set(encoder.encode(f.name).subarray(0, NAME_BYTES), at + 2)
  })
  return out
}

/** Lists the set bits of a 64-bit feature field. */
export const setBits = (field: bigint): number[] => {
  const bits: number[] = []
  for (let bit = 0; bit < 64; bit++) if ((field >> BigInt(bit)) & 1n) bits.push(bit)
  return bits
}

/** Names a feature bit from the image's table, else from QEMU's names, else as "bit N". */
export const featureName = (
  table: ReadonlyArray<FeatureName>,
  type: FeatureName['type'],
  bit: number,
): string =>
  (table.find((f) => f.type === type && f.bit === bit) ?? QEMU_FEATURE_NAMES.find((f) => f.type === type && f.bit === bit))
    ?.name ?? `${type} feature bit ${bit}`
