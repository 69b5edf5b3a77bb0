// Structure-aware mutations: a mutant is a seed image plus a list of byte edits aimed at its fields.
import type { RandomSource } from '../src/testing/prng.js'
import type { Field, Layout } from './layout.js'

/** One changed byte: the image holds `value` at `at`. */
export interface Edit {
  readonly at: number
  readonly value: number
}

const pick = <A>(random: RandomSource, items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]
const int = (random: RandomSource, below: number): number => Math.floor(random() * below)

const readField = (image: Uint8Array, f: Field): bigint => {
  let v = 0n
  for (let i = 0; i < f.width; i++) v = (v << 8n) | BigInt(image[f.at + i])
  return v
}

const writeField = (f: Field, value: bigint): Edit[] => {
  const mask = (1n << BigInt(f.width * 8)) - 1n
  let v = ((value % (mask + 1n)) + mask + 1n) & mask
  const out: Edit[] = []
  for (let i = f.width - 1; i >= 0; i--) {
    out.push({ at: f.at + i, value: Number(v & 0xffn) })
    v >>= 8n
  }
  return out
}

const bit = (n: number): bigint => 1n << BigInt(n)

/** Values aimed at the field's meaning: offsets at other structures, flag bits, lengths at the limits. */
const candidate = (random: RandomSource, f: Field, old: bigint, layout: Layout, imageLength: number): bigint => {
  const cluster = BigInt(layout.clusterSize)
  const structure = BigInt(pick(random, layout.structures))
  const offsetBits = old & 0x00fffffffffffe00n
  const flags = old & ~0x00fffffffffffe00n
  const generic = [0n, 1n, old + 1n, old - 1n, old ^ bit(int(random, f.width * 8)), -1n, bit(f.width * 8 - 1), BigInt(int(random, 256))]
  switch (f.kind) {
    case 'l1':
    case 'l2':
    case 'snapshotL1':
    case 'reftable':
      return pick(random, [
        ...generic,
        flags | structure,
        flags | (offsetBits + cluster),
        flags | (offsetBits + 512n),
        flags | BigInt(imageLength) | 0n,
        flags | bit(40 + int(random, 15)),
        old | bit(63),
        old & ~bit(63),
        old | bit(62),
        old | 1n,
        old | bit(56 + int(random, 6)),
        old | bit(1 + int(random, 8)),
        // A compressed descriptor with a random host offset and sector count.
        bit(62) | (BigInt(int(random, 1 << 30)) << BigInt(int(random, 20))),
        bit(62) | (structure + BigInt(int(random, 4096))),
        bit(62) | (-1n & ((1n << 62n) - 1n)),
      ])
    case 'headerOffset':
    case 'snapshotOffset':
      return pick(random, [...generic, structure, structure + 8n, old + cluster, BigInt(imageLength), bit(40 + int(random, 23)), old + 512n])
    case 'extLength':
    case 'snapshotLength':
      return pick(random, [...generic, old + 8n, old * 2n, 0xffffn, 0x10000n, 0xfffffff8n, cluster, cluster - 8n, BigInt(int(random, 2048))])
    case 'extType':
      return pick(random, [0n, 0xe2792acan, 0x6803f857n, 0x23852875n, 0x0537be77n, 0x44415441n, BigInt(int(random, 1 << 30))])
    case 'refblock':
      return pick(random, [0n, 1n, 2n, old + 1n, old - 1n, -1n, bit(f.width * 8 - 1)])
    case 'header':
      return pick(random, [...generic, bit(int(random, 64)), old << 1n, old >> 1n, old * 1024n])
    default:
      return pick(random, generic)
  }
}

/** One structural mutation of `image` (or a random byte flip), as byte edits. */
export const mutateOnce = (random: RandomSource, image: Uint8Array, layout: Layout): Edit[] => {
  if (layout.fields.length === 0 || random() < 0.12) {
    const at = random() < 0.5 ? int(random, Math.min(image.length, layout.clusterSize)) : int(random, image.length)
    return [{ at, value: image[at] ^ (1 << int(random, 8)) }]
  }
  // Choose the kind of structure first, so the many refcount and L2 entries do not crowd out the header.
  const kinds = [...new Set(layout.fields.map((field) => field.kind))]
  const kind = pick(random, kinds)
  const f = pick(random, layout.fields.filter((field) => field.kind === kind))
  return writeField(f, candidate(random, f, readField(image, f), layout, image.length))
}

/** Applies `edits` to a copy of `seed`. */
export const applyEdits = (seed: Uint8Array, edits: ReadonlyArray<Edit>): Uint8Array => {
  const out = seed.slice()
  for (const e of edits) if (e.at >= 0 && e.at < out.length) out[e.at] = e.value
  return out
}

/** A mutant of `seed`: 1 to 6 mutations, each chosen on the image as the previous ones left it. */
export const mutate = (random: RandomSource, seed: Uint8Array, layout: Layout, relayout: (image: Uint8Array) => Layout): Edit[] => {
  const count = 1 + int(random, 6)
  let edits: Edit[] = []
  let image = seed
  let current = layout
  for (let i = 0; i < count; i++) {
    edits = [...edits, ...mutateOnce(random, image, current)]
    if (i + 1 < count) {
      image = applyEdits(seed, edits)
      current = random() < 0.5 ? relayout(image) : current
    }
  }
  // Keep only the edits that change a byte (the last one for each position).
  const last = new Map<number, number>()
  for (const e of edits) last.set(e.at, e.value)
  return [...last].filter(([at, value]) => seed[at] !== value).map(([at, value]) => ({ at, value }))
}
