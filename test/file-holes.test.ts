// Hole detection: the sector rounding against a byte-level model, the addon's raw answers, FileBlock.seekMapped/seekUnmapped on real sparse files, and byteLength.
import { fc, test } from '@fast-check/vitest'
import { constants } from 'node:os'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'
import { FileBlock } from '../src/file/index.js'
import { firstDataSector, firstHoleSector } from '../src/file/holes.js'
import { seekAddon, type SeekAddon } from '../src/file/seek-addon.js'
import { left, right } from './helpers.js'
import { useTempDir } from './support/qemu.js'
import { describeWithAddon, useFsDirs, writeSparse } from './support/sparse-files.js'

const SECTOR = 512

/** lseek's SEEK_DATA/SEEK_HOLE over sorted, disjoint, non-touching byte ranges of data in a file of `length` bytes. */
const modelAddon = (data: ReadonlyArray<readonly [number, number]>, length: number): SeekAddon => ({
  seekData: (_fd, offset) => {
    if (offset >= length) return 'none'
    const next = data.find(([, end]) => end > offset)
    return next === undefined ? 'none' : Math.max(offset, next[0])
  },
  seekHole: (_fd, offset) => {
    if (offset >= length) return 'none'
    const inside = data.find(([start, end]) => start <= offset && offset < end)
    return inside === undefined ? offset : inside[1]
  },
})

/** Byte-granular data ranges (any alignment, holes as short as one byte) inside a file of some length. */
const layoutArb = fc
  .record({ length: fc.integer({ min: 1, max: 8 * SECTOR }), cuts: fc.uniqueArray(fc.integer({ min: 0, max: 8 * SECTOR }), { maxLength: 12 }) })
  .map(({ length, cuts }) => {
    const points = [...new Set(cuts.filter((c) => c <= length))].sort((a, b) => a - b)
    const data: Array<readonly [number, number]> = []
    for (let i = 0; i + 1 < points.length; i += 2) data.push([points[i], points[i + 1]])
    return { length, data }
  })

describe('sector rounding of lseek answers (a byte-level model of SEEK_DATA/SEEK_HOLE)', () => {
  test.prop([layoutArb], { numRuns: 300 })('the first sector holding a data byte, and the first sector wholly in a hole, exactly', ({ length, data }) => {
    const size = Math.ceil(length / SECTOR)
    const addon = modelAddon(data, length)
    const mapped = (p: number): boolean => data.some(([s, e]) => s < (p + 1) * SECTOR && e > p * SECTOR)
    for (let p = 0; p < size; p++) {
      let firstMapped = p
      while (firstMapped < size && !mapped(firstMapped)) firstMapped++
      let firstUnmapped = p
      while (firstUnmapped < size && mapped(firstUnmapped)) firstUnmapped++
      expect(firstDataSector(addon, 3, p, size)).toEqual(E.right(firstMapped))
      expect(firstHoleSector(addon, 3, p, size)).toEqual(E.right(firstUnmapped))
    }
  })

  it('a file system that cannot tell holes (EINVAL, ENOTSUP, ENOSYS) makes every sector data', () => {
    for (const errno of [constants.errno.EINVAL, constants.errno.ENOTSUP, constants.errno.ENOSYS]) {
      const addon: SeekAddon = { seekData: () => -errno, seekHole: () => -errno }
      expect(firstDataSector(addon, 3, 5, 10)).toEqual(E.right(5))
      expect(firstHoleSector(addon, 3, 5, 10)).toEqual(E.right(10))
    }
  })

  it('other failures and malformed answers are errors carrying the code, never throws', () => {
    const failing: SeekAddon = { seekData: () => -constants.errno.EIO, seekHole: () => -constants.errno.EBADF }
    expect(left(firstDataSector(failing, 3, 0, 10))).toMatchObject({ code: 'EIO' })
    expect(left(firstHoleSector(failing, 3, 0, 10))).toMatchObject({ code: 'EBADF' })
    const odd = { seekData: () => 1.5, seekHole: () => 'elsewhere' } as unknown as SeekAddon
    expect(E.isLeft(firstDataSector(odd, 3, 0, 10))).toBe(true)
    expect(E.isLeft(firstHoleSector(odd, 3, 0, 10))).toBe(true)
    const backwards: SeekAddon = { seekData: () => 0, seekHole: () => 0 }
    expect(E.isLeft(firstDataSector(backwards, 3, 5, 10))).toBe(true)
    expect(E.isLeft(firstHoleSector(backwards, 3, 5, 10))).toBe(true)
    const contradictory: SeekAddon = { seekData: (_fd, offset) => offset, seekHole: (_fd, offset) => offset }
    expect(E.isLeft(firstHoleSector(contradictory, 3, 5, 10))).toBe(true)
  })
})

describeWithAddon('the native addon', () => {
  const dir = useTempDir('qcow-ts-holes-')

  it('answers with offsets, "none" for ENXIO, and a negative errno for bad descriptors and arguments, never throwing', async () => {
    const addon = seekAddon() as SeekAddon
    const path = dir.file('one.img')
    await writeSparse(path, 4096, [{ offset: 0, bytes: new Uint8Array(4096).fill(1) }])
    const file = await open(path, 'r')
    try {
      expect(addon.seekData(file.fd, 0)).toBe(0)
      expect(addon.seekHole(file.fd, 0)).toBe(4096)
      expect(addon.seekData(file.fd, 4096)).toBe('none')
      expect(addon.seekHole(file.fd, 5000)).toBe('none')
      expect(addon.seekData(file.fd, -1)).toBe(-constants.errno.EINVAL)
    } finally {
      await file.close()
    }
    expect(addon.seekData(-1, 0)).toBe(-constants.errno.EINVAL)
    expect(addon.seekHole(2 ** 30, 0)).toBe(-constants.errno.EBADF)
    const loose = addon as unknown as Record<string, (...args: unknown[]) => unknown>
    expect(loose.seekData()).toBe(-constants.errno.EINVAL)
    expect(loose.seekHole('3', {})).toBe(-constants.errno.EINVAL)
    for (const [fd, offset] of [[0.5, 0], [2 ** 32 + 1, 0], [Number.NaN, 0], [0, 1.5], [0, 2 ** 60], [0, Number.POSITIVE_INFINITY]]) {
      expect(addon.seekData(fd, offset), `${fd}, ${offset}`).toBe(-constants.errno.EINVAL)
    }
  })
})

/** Writes of 1 byte to 12 KiB at any byte offset, of non-zero bytes. */
const pieceArb = (size: number) =>
  fc.record({ offset: fc.integer({ min: 0, max: size - 1 }), length: fc.integer({ min: 1, max: 12 * 1024 }), fill: fc.integer({ min: 1, max: 255 }) })

/** A file length (any byte count up to 256 KiB) and the writes inside it. */
const sparseArb = fc
  .integer({ min: 1, max: 256 * 1024 })
  .chain((size) => fc.record({ size: fc.constant(size), writes: fc.array(pieceArb(size), { maxLength: 8 }) }))

describeWithAddon('FileBlock.seekMapped/seekUnmapped on sparse files', () => {
  const places = useFsDirs()

  it('file systems known to report holes do (others are listed)', async () => {
    for (const d of places.dirs()) {
      const path = join(d.path, 'probe.img')
      await writeSparse(path, 1024 * 1024, [{ offset: 512 * 1024, bytes: new Uint8Array([7]) }])
      const device = right(await FileBlock.connect({ path, readOnly: true })())
      const firstData = right(await device.seekMapped(0)())
      const holeAfter = right(await device.seekUnmapped(1024)())
      right(await device.disconnect()())
      if (d.knownName === undefined) console.warn(`${d.label}: a file system not known to report holes; found data from sector ${firstData}`)
      else {
        expect(firstData, `${d.label} (${d.knownName})`).toBeGreaterThan(0)
        expect(firstData).toBeLessThanOrEqual(1024)
        expect(holeAfter).toBeGreaterThan(1024)
        expect(holeAfter).toBeLessThan(2048)
      }
    }
  })

  test.prop([sparseArb], { numRuns: 40 })(
    'every range reported unmapped reads as zeroes and holds no written byte; every written byte is mapped; each sector is one or the other',
    async ({ size, writes }) => {
      for (const d of places.dirs()) {
        const path = join(d.path, 'random.img')
        await writeSparse(path, size, writes.map((w) => ({ offset: w.offset, bytes: new Uint8Array(w.length).fill(w.fill) })))
        const written = writes.map((w): readonly [number, number] => [w.offset, w.offset + w.length])
        const end = Math.max(size, ...written.map(([, e]) => e))
        const sectors = Math.ceil(end / SECTOR)
        const device = right(await FileBlock.connect({ path, readOnly: true })())
        try {
          expect(right(await device.getInfo()()).sizeSectors).toBe(sectors)
          const isMapped: boolean[] = []
          for (let at = 0; at < sectors; ) {
            const mappedFrom = right(await device.seekMapped(at)())
            expect(mappedFrom).toBeGreaterThanOrEqual(at)
            expect(mappedFrom).toBeLessThanOrEqual(sectors)
            if (mappedFrom > at) {
              const zeroes = new Uint8Array((mappedFrom - at) * SECTOR)
              zeroes.fill(9)
              right(await device.read(at, [zeroes])())
              expect(zeroes.every((b) => b === 0), `${d.label}: sectors ${at}..${mappedFrom} reported unmapped are not zero`).toBe(true)
              for (let s = at; s < mappedFrom; s++) isMapped[s] = false
              at = mappedFrom
            } else {
              const unmappedFrom = right(await device.seekUnmapped(at)())
              expect(unmappedFrom).toBeGreaterThan(at)
              expect(unmappedFrom).toBeLessThanOrEqual(sectors)
              for (let s = at; s < unmappedFrom; s++) isMapped[s] = true
              at = unmappedFrom
            }
          }
          for (const [s, e] of written) {
            for (let sector = Math.floor(s / SECTOR); sector * SECTOR < e; sector++) expect(isMapped[sector], `${d.label}: written sector ${sector}`).toBe(true)
          }
          for (let s = 0; s < sectors; s += 7) {
            expect(right(await device.seekMapped(s)()) === s).toBe(isMapped[s])
            expect(right(await device.seekUnmapped(s)()) === s).toBe(!isMapped[s])
          }
        } finally {
          right(await device.disconnect()())
        }
      }
    },
  )
})

describe('FileBlock.seekMapped/seekUnmapped arguments and states', () => {
  const dir = useTempDir('qcow-ts-holes-')

  it('byteLength is the file\'s length, which may end inside the last sector', async () => {
    const path = dir.file('partial.img')
    await writeSparse(path, 1000, [])
    const device = right(await FileBlock.connect({ path })())
    expect(right(await device.getInfo()()).sizeSectors).toBe(2)
    expect(right(await device.byteLength()())).toBe(1000)
    right(await device.write(1, [new Uint8Array(SECTOR)])())
    expect(right(await device.byteLength()())).toBe(1024)
    right(await device.disconnect()())
  })

  it('refuses sectors that are not non-negative integers, answers the size from the end on, and Disconnected after disconnect', async () => {
    const path = dir.file('args.img')
    await writeSparse(path, 8 * SECTOR, [])
    const device = right(await FileBlock.connect({ path })())
    for (const bad of [-1, 1.5, Number.NaN]) {
      expect(left(await device.seekMapped(bad)())).toMatchObject({ _tag: 'OutOfRange' })
      expect(left(await device.seekUnmapped(bad)())).toMatchObject({ _tag: 'OutOfRange' })
    }
    for (const from of [8, 9, 2 ** 40]) {
      expect(right(await device.seekMapped(from)())).toBe(8)
      expect(right(await device.seekUnmapped(from)())).toBe(8)
    }
    right(await device.write(3, [new Uint8Array(SECTOR).fill(1)])())
    expect(right(await device.seekUnmapped(3)())).toBeGreaterThan(3)
    right(await device.disconnect()())
    expect(left(await device.byteLength()())).toEqual({ _tag: 'Disconnected' })
    expect(left(await device.seekMapped(0)())).toEqual({ _tag: 'Disconnected' })
    expect(left(await device.seekUnmapped(0)())).toEqual({ _tag: 'Disconnected' })
  })
})
