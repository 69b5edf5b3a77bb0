// `qcow map` and `qcow convert` of sparse raw files against qemu-img, on /tmp's file system and tmpfs: holes are zero, not data, and convert does not read them.
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { FileBlock } from '../../src/file/index.js'
import { right } from '../helpers.js'
import { describeWithQemu, qemuImg, qemuIoRaw } from '../support/qemu.js'
import { describeWithAddon, useFsDirs, writeSparse, type Piece } from '../support/sparse-files.js'
import { bothImg, qcow } from './harness.js'

const KiB = 1024
const MiB = 1024 * KiB

const bytes = (length: number, fill: number): Uint8Array => new Uint8Array(length).fill(fill)

/** `count` small pieces at scattered, unaligned offsets below `size` (a fixed LCG). */
const scattered = (size: number, count: number): Piece[] => {
  const out: Piece[] = []
  let x = 4321
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31
    out.push({ offset: x % (size - 3000), bytes: bytes(1 + (x % 3000), 1 + (i % 250)) })
  }
  return out
}

/** Sparse layouts: a name, the file's length and what is written in it. */
const LAYOUTS: ReadonlyArray<{ readonly name: string; readonly size: number; readonly pieces: ReadonlyArray<Piece> }> = [
  { name: 'holes around two bytes', size: MiB, pieces: [{ offset: 200_000, bytes: bytes(1, 1) }, { offset: 700_000, bytes: bytes(1, 2) }] },
  { name: 'data at both ends', size: 4 * MiB, pieces: [{ offset: 0, bytes: bytes(8 * KiB, 3) }, { offset: 4 * MiB - 4 * KiB, bytes: bytes(4 * KiB, 4) }] },
  { name: 'all hole', size: MiB, pieces: [] },
  { name: 'all data', size: 64 * KiB, pieces: [{ offset: 0, bytes: bytes(64 * KiB, 5) }] },
  { name: 'ending inside a sector after data', size: 100_000, pieces: [{ offset: 99_999, bytes: bytes(1, 6) }] },
  { name: 'ending inside a sector in a hole', size: 1000, pieces: [] },
  { name: 'scattered unaligned pieces', size: 8 * MiB, pieces: scattered(8 * MiB, 60) },
  { name: 'empty', size: 0, pieces: [] },
]

describeWithAddon('sparse raw files', () => {
  describeWithQemu('qcow map and convert of sparse raw files match qemu-img', () => {
    const places = useFsDirs()
    beforeAll(async () => {
      for (const d of places.dirs()) for (const [i, l] of LAYOUTS.entries()) await writeSparse(join(d.path, `layout-${i}.raw`), l.size, l.pieces)
    })

    it('map --output=json and the human map equal qemu-img map for every layout', async () => {
      for (const d of places.dirs()) {
        for (const [i, l] of LAYOUTS.entries()) {
          const path = join(d.path, `layout-${i}.raw`)
          for (const output of ['json', 'human']) {
            const { qemu, ours } = await bothImg(['map', '-f', 'raw', `--output=${output}`, path])
            expect(qemu.code, qemu.stderr).toBe(0)
            expect(ours, `${d.label}: ${l.name} (${output})`).toEqual({ ...qemu, stderr: '' })
          }
        }
      }
    })

    it('the map of a qcow2 overlay over a sparse raw backing equals qemu-img map (the backing\'s holes are zero at depth 1)', async () => {
      for (const d of places.dirs()) {
        for (const i of [0, 6]) {
          const overlay = join(d.path, `overlay-${i}.qcow2`)
          expect((await qemuImg(['create', '-q', '-f', 'qcow2', '-b', `layout-${i}.raw`, '-F', 'raw', overlay])).code).toBe(0)
          expect((await qemuIoRaw(['-f', 'qcow2', '-c', 'write -P 3 64k 4k', '-c', 'write -z 512k 128k', overlay])).code).toBe(0)
          for (const output of ['json', 'human']) {
            const { qemu, ours } = await bothImg(['map', '-f', 'qcow2', `--output=${output}`, overlay])
            expect(qemu.code, qemu.stderr).toBe(0)
            expect(ours, `${d.label}: overlay over ${LAYOUTS[i].name} (${output})`).toEqual({ ...qemu, stderr: '' })
          }
        }
      }
    })

    it('compare -s of sparse raw files with a fully written copy, with themselves and with a qcow2 copy answers as qemu-img does', async () => {
      for (const d of places.dirs()) {
        for (const i of [0, 1, 2, 6]) {
          const sparse = join(d.path, `layout-${i}.raw`)
          const full = join(d.path, `full-${i}.raw`)
          await writeFile(full, await readFile(sparse))
          const copy = join(d.path, `copy-${i}.qcow2`)
          expect((await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', sparse, copy])).code).toBe(0)
          for (const [a, fa, b, fb] of [[sparse, 'raw', full, 'raw'], [full, 'raw', sparse, 'raw'], [sparse, 'raw', sparse, 'raw'], [sparse, 'raw', copy, 'qcow2']]) {
            const { qemu, ours } = await bothImg(['compare', '-s', '-f', fa, '-F', fb, a, b])
            expect(ours, `${d.label}: ${LAYOUTS[i].name}: ${a} ${b}`).toEqual({ ...qemu, stderr: '' })
          }
        }
      }
    })

    it('convert to raw and to qcow2 gives the map qemu-img convert gives, and qemu-img compare finds the copies identical', async () => {
      for (const d of places.dirs()) {
        for (const [i, l] of LAYOUTS.entries()) {
          if (l.size % 512 !== 0) continue
          const source = join(d.path, `layout-${i}.raw`)
          for (const format of ['raw', 'qcow2']) {
            const theirs = join(d.path, `qemu-${i}.${format}`)
            const ours = join(d.path, `ours-${i}.${format}`)
            expect((await qemuImg(['convert', '-f', 'raw', '-O', format, source, theirs])).code).toBe(0)
            expect(await qcow(['convert', '-f', 'raw', '-O', format, source, ours])).toEqual({ stdout: '', stderr: '', code: 0 })
            const theirMap = await qemuImg(['map', '-f', format, '--output=json', theirs])
            const ourMap = await qemuImg(['map', '-f', format, '--output=json', ours])
            expect(ourMap.stdout, `${d.label}: ${l.name} to ${format}`).toBe(theirMap.stdout)
            const compared = await qemuImg(['compare', '-f', 'raw', '-F', format, source, ours])
            expect(compared.stdout).toBe('Images are identical.\n')
          }
        }
      }
    })
  })

  describe('convert does not read the holes of a raw source', () => {
    const places = useFsDirs()

    it('a 1 GiB file holding three small pieces: only the granules around them are read', async () => {
      for (const d of places.dirs()) {
        const source = join(d.path, 'big.raw')
        await writeSparse(source, 1024 * MiB, [
          { offset: 5 * MiB + 17, bytes: bytes(100, 7) },
          { offset: 300 * MiB, bytes: bytes(8 * KiB, 8) },
          { offset: 1024 * MiB - 512, bytes: bytes(512, 9) },
        ])
        const probe = right(await FileBlock.connect({ path: source, readOnly: true })())
        const read = vi.spyOn(Object.getPrototypeOf(probe) as typeof probe, 'read')
        right(await probe.disconnect()())
        try {
          for (const format of ['raw', 'qcow2']) {
            read.mockClear()
            expect(await qcow(['convert', '-f', 'raw', '-O', format, source, join(d.path, `big-copy.${format}`)])).toEqual({ stdout: '', stderr: '', code: 0 })
            let fromSource = 0
            read.mock.contexts.forEach((device, call) => {
              if ((device as { path?: string }).path === source) fromSource += read.mock.calls[call][1].reduce((n, b) => n + b.byteLength, 0)
            })
            expect(fromSource, `${d.label} to ${format}`).toBeGreaterThan(0)
            expect(fromSource, `${d.label} to ${format}`).toBeLessThanOrEqual(3 * 2 * 64 * KiB)
          }
        } finally {
          read.mockRestore()
        }
      }
    })
  })
})
