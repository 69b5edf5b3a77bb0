// Our codecs decode the compressed clusters qemu-img convert -c writes (zlib and zstd), located by walking the L2 tables.
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { expect, it } from 'vitest'
import { deflateCodec } from '../../src/qcow/compression/deflate.js'
import { codecFor } from '../../src/qcow/compression/index.js'
import { expectBytes } from '../support/bytes.js'
import { guestClusters, layoutHeader, setCompressedEntry } from '../support/qcow-layout.js'
import { convert, describeWithQemu, toRawBytes, useTempDir, writeBytes } from '../support/qemu.js'

/** Guest data mixing compressible text-like clusters, runs, random (incompressible) clusters and zero clusters. */
const sourceImage = (clusterSize: number, clusters: number): Uint8Array => {
  const out = new Uint8Array(clusterSize * clusters)
  let x = 0x2545f491
  for (let c = 0; c < clusters; c++) {
    const base = c * clusterSize
    const kind = c % 4
    for (let i = 0; i < clusterSize; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      if (kind === 0) out[base + i] = 97 + ((i * 7 + c) % 26)
      else if (kind === 1) out[base + i] = (i >> 6) + c
      else if (kind === 2) out[base + i] = x & 255
      else if (i % 3 === 0) out[base + i] = x & 15
    }
  }
  // One all-zero cluster: QEMU leaves it unallocated.
  out.fill(0, clusterSize, clusterSize * 2)
  return out
}

describeWithQemu('compressed clusters written by qemu-img convert -c', () => {
  const tmp = useTempDir()

  for (const compressionType of ['zlib', 'zstd'] as const) {
    for (const clusterSize of [512, 4096, 65536, 2 * 1024 * 1024]) {
      it(`${compressionType}, ${clusterSize}-byte clusters, decode to the source clusters`, async () => {
        const clusters = clusterSize > 65536 ? 4 : 24
        const source = sourceImage(clusterSize, clusters)
        const raw = tmp.file(`src-${compressionType}-${clusterSize}.raw`)
        const image = tmp.file(`c-${compressionType}-${clusterSize}.qcow2`)
        await writeBytes(raw, source)
        await convert(raw, image, { sourceFormat: 'raw', compress: true, target: { clusterSize, compressionType } })

        const bytes = new Uint8Array(await readFile(image))
        const header = layoutHeader(bytes)
        expect(header.compressionType).toBe(compressionType === 'zlib' ? 0 : 1)
        const codec = await codecFor(header.compressionType)()
        if (E.isLeft(codec)) throw new Error('no codec')

        let compressed = 0
        for (const entry of guestClusters(bytes)) {
          const expected = source.subarray(entry.guestOffset, entry.guestOffset + clusterSize)
          if (entry.kind === 'compressed') {
            compressed += 1
            const input = bytes.subarray(entry.hostOffset, Math.min(bytes.byteLength, entry.hostOffset + entry.maxBytes))
            const decoded = await codec.right.decompress(input, clusterSize)()
            if (E.isLeft(decoded)) throw new Error(`cluster at ${entry.guestOffset}: ${JSON.stringify(decoded.left)}`)
            expectBytes(decoded.right, expected, `cluster at ${entry.guestOffset}`)
          } else if (entry.kind === 'normal') {
            expectBytes(bytes.subarray(entry.hostOffset, entry.hostOffset + clusterSize), expected, `cluster at ${entry.guestOffset}`)
          } else {
            expect(expected.every((b) => b === 0)).toBe(true)
          }
        }
        // Three quarters of the clusters compress well; all of those must have been stored compressed.
        expect(compressed).toBeGreaterThanOrEqual((clusters * 3) / 4 - 1)
      })
    }
  }
})

describeWithQemu('QEMU reads clusters our deflate codec compressed', () => {
  const tmp = useTempDir('qcow-ts-ourdeflate-')

  for (const clusterSize of [512, 65536]) {
    it(`${clusterSize}-byte clusters: qemu-img convert -O raw decodes our streams`, async () => {
      const clusters = 16
      const source = sourceImage(clusterSize, clusters)
      const raw = tmp.file(`src-${clusterSize}.raw`)
      const image = tmp.file(`ours-${clusterSize}.qcow2`)
      await writeBytes(raw, source)
      await convert(raw, image, { sourceFormat: 'raw', compress: true, target: { clusterSize, compressionType: 'zlib' } })
      const original = new Uint8Array(await readFile(image))
      // Re-point every compressed entry at our own stream, stored at unaligned offsets past the end.
      const streams: { offset: number; bytes: Uint8Array }[] = []
      const patched = original.slice()
      let next = original.byteLength + 3
      for (const entry of guestClusters(original)) {
        if (entry.kind !== 'compressed') continue
        const compressed = await deflateCodec.compress(source.subarray(entry.guestOffset, entry.guestOffset + clusterSize))()
        if (E.isLeft(compressed)) throw new Error('compress failed')
        setCompressedEntry(patched, entry.entryAt, next, compressed.right.byteLength)
        streams.push({ offset: next, bytes: compressed.right })
        next += compressed.right.byteLength + 5
      }
      expect(streams.length).toBeGreaterThan(clusters / 2)
      const out = new Uint8Array(Math.ceil(next / 512) * 512)
      out.set(patched)
      for (const s of streams) out.set(s.bytes, s.offset)
      await writeBytes(image, out)
      expectBytes(await toRawBytes(image), source, 'QEMU decoding our deflate streams')
    })
  }
})
