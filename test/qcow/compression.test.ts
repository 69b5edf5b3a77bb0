// Property and robustness tests of the compressed-cluster codecs (deflate via real zlib, zstd via hand-built frames).
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { fc, it as fcIt } from '@fast-check/vitest'
import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'
import { codecFor, type ClusterCodec } from '../../src/qcow/compression/index.js'
import { deflateCodec } from '../../src/qcow/compression/deflate.js'
import { zstdCodec } from '../../src/qcow/compression/zstd.js'
import { expectBytes } from '../support/bytes.js'
import { zstdChecksum } from '../support/xxh64.js'
import { locateFrame } from '../../src/qcow/compression/zstd-frame.js'

const clusterSizes = fc.constantFrom(512, 1024, 4096, 16384, 65536)

/** `size` bytes from a xorshift generator seeded by `seed` (fast, unlike per-byte arbitraries). */
const pseudoRandomBytes = (seed: number, size: number): Uint8Array => {
  const out = new Uint8Array(size)
  let x = seed | 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 255
  }
  return out
}

/** Cluster contents that compress to varying degrees: runs of bytes mixed with random stretches. */
const clusterOf = (size: number): fc.Arbitrary<Uint8Array> =>
  fc.array(fc.record({ length: fc.integer({ min: 1, max: size }), byte: fc.integer({ min: 0, max: 255 }), random: fc.boolean() }), { minLength: 1, maxLength: 8 }).chain((runs) =>
    fc.integer().map((seed) => {
      const noise = pseudoRandomBytes(seed, size)
      const out = new Uint8Array(size)
      let at = 0
      for (const run of runs) {
        const end = Math.min(size, at + run.length)
        if (run.random) out.set(noise.subarray(at, end), at)
        else out.fill(run.byte, at, end)
        at = end
        if (at === size) break
      }
      return out
    }),
  )

const sizedCluster = clusterSizes.chain((size) => clusterOf(size))

const decompress = (codec: ClusterCodec, input: Uint8Array, clusterSize: number) => codec.decompress(input, clusterSize)()

/** Asserts `result` is exactly `expected`. */
const expectCluster = (result: E.Either<{ _tag: string }, Uint8Array>, expected: Uint8Array): void => {
  if (E.isLeft(result)) throw new Error(`expected a cluster, got ${JSON.stringify(result.left)}`)
  expectBytes(result.right, expected, 'cluster')
}

const expectCorrupt = (result: E.Either<{ _tag: string }, Uint8Array>): void => {
  expect(E.isLeft(result) && result.left._tag).toBe('Corrupt')
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

describe('codecFor', () => {
  it('maps 0 to deflate, 1 to zstd and refuses other types', async () => {
    expect(await codecFor(0)()).toEqual(E.right(deflateCodec))
    expect(await codecFor(1)()).toEqual(E.right(zstdCodec))
    const other = await codecFor(2)()
    expect(E.isLeft(other) && other.left._tag).toBe('UnsupportedFeature')
  })
})

describe('deflate codec', () => {
  fcIt.prop([sizedCluster, fc.uint8Array({ maxLength: 600 })], { numRuns: 60 })('round-trips, ignoring trailing bytes', async (cluster, trailing) => {
    const compressed = await deflateCodec.compress(cluster)()
    if (E.isLeft(compressed)) throw new Error('compress failed')
    expectCluster(await decompress(deflateCodec, concat(compressed.right, trailing), cluster.byteLength), cluster)
  })

  fcIt.prop([sizedCluster], { numRuns: 40 })('writes raw streams that zlib with QEMU window bits 12 inflates', async (cluster) => {
    const compressed = await deflateCodec.compress(cluster)()
    if (E.isLeft(compressed)) throw new Error('compress failed')
    expectBytes(new Uint8Array(inflateRawSync(compressed.right, { windowBits: 12 })), cluster)
  })

  fcIt.prop([sizedCluster, fc.uint8Array({ maxLength: 600 })], { numRuns: 40 })('reads zlib window-12 streams followed by padding', async (cluster, trailing) => {
    const stream = new Uint8Array(deflateRawSync(cluster, { windowBits: 12 }))
    expectCluster(await decompress(deflateCodec, concat(stream, trailing), cluster.byteLength), cluster)
  })

  it('refuses streams one byte short of or past a cluster', async () => {
    const data = new Uint8Array(4097).fill(7)
    expectCorrupt(await decompress(deflateCodec, new Uint8Array(deflateRawSync(data.subarray(0, 4095))), 4096))
    expectCorrupt(await decompress(deflateCodec, new Uint8Array(deflateRawSync(data)), 4096))
  })

  it('stops a decompression bomb at one cluster', async () => {
    const bomb = new Uint8Array(deflateRawSync(new Uint8Array(16 * 1024 * 1024)))
    const started = performance.now()
    expectCorrupt(await decompress(deflateCodec, bomb, 65536))
    expect(performance.now() - started).toBeLessThan(1000)
  })

  fcIt.prop([fc.uint8Array({ maxLength: 5000 }), clusterSizes], { numRuns: 300 })('turns garbage into Corrupt or exactly one cluster, never a throw', async (garbage, size) => {
    const result = await decompress(deflateCodec, garbage, size)
    if (E.isLeft(result)) expect(result.left._tag).toBe('Corrupt')
    else expect(result.right.byteLength).toBe(size)
  })
})

// ---- zstd: a tiny reference encoder of raw and RLE blocks (the compressed-block path is covered by QEMU's frames) ----

type Block = { type: 'raw'; data: Uint8Array } | { type: 'rle'; byte: number; length: number }

const blockHeader = (last: boolean, type: number, size: number): Uint8Array => {
  const v = (last ? 1 : 0) | (type << 1) | (size << 3)
  return new Uint8Array([v & 255, (v >> 8) & 255, (v >> 16) & 255])
}

interface FrameOptions {
  readonly contentSize?: number
  readonly singleSegment: boolean
  readonly windowDescriptor: number
  readonly checksum: boolean
}

/** Encodes a zstd frame of raw/RLE blocks; the frame content size, when given, uses 4 bytes (or 1 for tiny single-segment frames). */
const encodeFrame = (blocks: ReadonlyArray<Block>, o: FrameOptions): Uint8Array => {
  const fcs = o.contentSize
  const fcsFlag = fcs === undefined ? 0 : 2
  const descriptor = (fcsFlag << 6) | ((o.singleSegment ? 1 : 0) << 5) | ((o.checksum ? 1 : 0) << 2)
  const header = [0x28, 0xb5, 0x2f, 0xfd, descriptor]
  if (!o.singleSegment) header.push(o.windowDescriptor)
  if (fcs !== undefined) header.push(fcs & 255, (fcs >> 8) & 255, (fcs >> 16) & 255, (fcs >>> 24) & 255)
  const parts: Uint8Array[] = [new Uint8Array(header)]
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1
    if (b.type === 'raw') parts.push(blockHeader(last, 0, b.data.byteLength), b.data)
    else parts.push(blockHeader(last, 1, b.length), new Uint8Array([b.byte]))
  })
  if (o.checksum) {
    const content = concat(...blocks.map((b) => (b.type === 'raw' ? b.data : new Uint8Array(b.length).fill(b.byte))))
    parts.push(zstdChecksum(content))
  }
  return concat(...parts)
}

/** Splits `cluster` into raw and RLE blocks of at most 128 KiB at the given cut points. */
const toBlocks = (cluster: Uint8Array, cuts: ReadonlyArray<number>): Block[] => {
  const points = [...new Set([0, ...cuts.map((c) => c % cluster.byteLength), cluster.byteLength])].sort((a, b) => a - b)
  const blocks: Block[] = []
  for (let i = 0; i + 1 < points.length; i++) {
    const piece = cluster.subarray(points[i], points[i + 1])
    blocks.push(piece.every((b) => b === piece[0]) ? { type: 'rle', byte: piece[0]!, length: piece.byteLength } : { type: 'raw', data: piece })
  }
  return blocks
}

const frameOptions = fc.record({ withSize: fc.boolean(), singleSegment: fc.boolean(), windowExponent: fc.integer({ min: 0, max: 20 }), checksum: fc.boolean() })

describe('zstd codec', () => {
  fcIt.prop([sizedCluster, fc.array(fc.nat(), { maxLength: 6 }), fc.nat(), frameOptions, fc.boolean(), fc.uint8Array({ maxLength: 600 })], { numRuns: 80 })(
    'decodes raw/RLE frames, split frames, skippable frames and trailing padding to the cluster',
    async (cluster, cuts, split, options, skippable, trailing) => {
      const size = cluster.byteLength
      const at = split % size
      const pieces = at === 0 ? [cluster] : [cluster.subarray(0, at), cluster.subarray(at)]
      const frames = pieces.map((piece) =>
        encodeFrame(toBlocks(piece, cuts), {
          ...(options.withSize || options.singleSegment ? { contentSize: piece.byteLength } : {}),
          singleSegment: options.singleSegment,
          // A block may not exceed the window, so the window covers the cluster.
          windowDescriptor: Math.max(options.windowExponent, Math.log2(size) - 10) << 3,
          checksum: options.checksum,
        }),
      )
      const skip = skippable ? [new Uint8Array([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9])] : []
      expectCluster(await decompress(zstdCodec, concat(...skip, ...frames, trailing), size), cluster)
    },
  )

  it('refuses a frame whose content size is not the cluster', async () => {
    const data = new Uint8Array(4096).fill(3)
    const frame = encodeFrame([{ type: 'raw', data }], { contentSize: 4096, singleSegment: true, windowDescriptor: 0, checksum: false })
    expectCorrupt(await decompress(zstdCodec, frame, 8192))
    expectCorrupt(await decompress(zstdCodec, frame, 2048))
  })

  it('refuses frames that regenerate too little or too much', async () => {
    const short = encodeFrame([{ type: 'rle', byte: 1, length: 1000 }], { singleSegment: false, windowDescriptor: 0, checksum: false })
    expectCorrupt(await decompress(zstdCodec, short, 1024))
    const long = encodeFrame([{ type: 'rle', byte: 1, length: 1025 }], { singleSegment: false, windowDescriptor: 0, checksum: false })
    expectCorrupt(await decompress(zstdCodec, long, 1024))
  })

  it('refuses an RLE bomb before allocating it', async () => {
    const blocks: Block[] = Array.from({ length: 2000 }, () => ({ type: 'rle', byte: 0, length: (1 << 21) - 1 }))
    const bomb = encodeFrame(blocks, { singleSegment: false, windowDescriptor: 31 << 3, checksum: false })
    const located = locateFrame(bomb, 0, 65536)
    expect(E.isLeft(located)).toBe(true)
    expectCorrupt(await decompress(zstdCodec, bomb, 65536))
  })

  it('decodes a frame declaring a large window without allocating it, and refuses an impossible one', async () => {
    const data = new Uint8Array(512).map((_, i) => i & 255)
    // Exponent 16 declares a 64 MiB window: one-pass decoding into the cluster needs none of it.
    const large = encodeFrame([{ type: 'raw', data }], { singleSegment: false, windowDescriptor: 16 << 3, checksum: false })
    expectCluster(await decompress(zstdCodec, large, 512), data)
    // Exponent 30 declares 1 TiB, beyond what any zstd decoder accepts (QEMU's refuses it too).
    const impossible = encodeFrame([{ type: 'raw', data }], { singleSegment: false, windowDescriptor: 30 << 3, checksum: false })
    expectCorrupt(await decompress(zstdCodec, impossible, 512))
  })

  it('checks content checksums, as libzstd in QEMU does', async () => {
    const data = new Uint8Array(4096).map((_, i) => (i * 13) & 255)
    const frame = encodeFrame([{ type: 'raw', data }], { contentSize: 4096, singleSegment: true, windowDescriptor: 0, checksum: true })
    expectCluster(await decompress(zstdCodec, frame, 4096), data)
    const wrong = frame.slice()
    wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 1
    expectCorrupt(await decompress(zstdCodec, wrong, 4096))
  })

  it('refuses truncated frames and reserved block types', async () => {
    const frame = encodeFrame([{ type: 'raw', data: new Uint8Array(512).fill(9) }], { contentSize: 512, singleSegment: true, windowDescriptor: 0, checksum: true })
    for (let cut = 0; cut < frame.byteLength; cut += 7) expectCorrupt(await decompress(zstdCodec, frame.subarray(0, cut), 512))
    const reserved = frame.slice()
    reserved[9] = (reserved[9]! & ~6) | 6
    expectCorrupt(await decompress(zstdCodec, reserved, 512))
  })

  fcIt.prop([fc.uint8Array({ maxLength: 5000 }), clusterSizes, fc.boolean()], { numRuns: 300 })('turns garbage into Corrupt or exactly one cluster, never a throw', async (garbage, size, withMagic) => {
    const input = withMagic ? concat(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]), garbage) : garbage
    const result = await decompress(zstdCodec, input, size)
    if (E.isLeft(result)) expect(result.left._tag).toBe('Corrupt')
    else expect(result.right.byteLength).toBe(size)
  })

  it('has no compressor and says so', async () => {
    const result = await zstdCodec.compress(new Uint8Array(512))()
    expect(E.isLeft(result) && result.left._tag).toBe('UnsupportedFeature')
  })
})
