// Test-only XXH64 (seed 0), for building zstd frames with content checksums (the low 32 bits).
const M = (1n << 64n) - 1n
const P1 = 11400714785074694791n
const P2 = 14029467366897019727n
const P3 = 1609587929392839161n
const P4 = 9650029242287828579n
const P5 = 2870177450012600261n

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M
const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & M, 31n) * P1) & M
const merge = (acc: bigint, v: bigint): bigint => (((acc ^ round(0n, v)) * P1) + P4) & M
const lane64 = (b: Uint8Array, at: number): bigint => {
  let v = 0n
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]!)
  return v
}
const lane32 = (b: Uint8Array, at: number): bigint => BigInt((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0)

/** XXH64 of `data` with seed 0. */
export const xxh64 = (data: Uint8Array): bigint => {
  let at = 0
  let h: bigint
  if (data.byteLength >= 32) {
    let v1 = (P1 + P2) & M
    let v2 = P2
    let v3 = 0n
    let v4 = (M + 1n - P1) & M
    for (; at + 32 <= data.byteLength; at += 32) {
      v1 = round(v1, lane64(data, at))
      v2 = round(v2, lane64(data, at + 8))
      v3 = round(v3, lane64(data, at + 16))
      v4 = round(v4, lane64(data, at + 24))
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M
    h = merge(merge(merge(merge(h, v1), v2), v3), v4)
  } else h = P5
  h = (h + BigInt(data.byteLength)) & M
  for (; at + 8 <= data.byteLength; at += 8) h = ((rotl(h ^ round(0n, lane64(data, at)), 27n) * P1) + P4) & M
  for (; at + 4 <= data.byteLength; at += 4) h = ((rotl(h ^ ((lane32(data, at) * P1) & M), 23n) * P2) + P3) & M
  for (; at < data.byteLength; at++) h = (rotl(h ^ ((BigInt(data[at]!) * P5) & M), 11n) * P1) & M
  h ^= h >> 33n
  h = (h * P2) & M
  h ^= h >> 29n
  h = (h * P3) & M
  h ^= h >> 32n
  return h
}

/** The zstd content checksum of `data`: the low 32 bits of its XXH64, little-endian. */
export const zstdChecksum = (data: Uint8Array): Uint8Array => {
  const low = Number(xxh64(data) & 0xffffffffn)
  return new Uint8Array([low & 255, (low >>> 8) & 255, (low >>> 16) & 255, low >>> 24])
}
