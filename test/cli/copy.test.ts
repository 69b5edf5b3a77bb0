// The pipelined copy of `qcow convert` against a model: bytes equal, zero granules unwritten, writes in disk order, failures stop it cleanly.
import { fc, test } from '@fast-check/vitest'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { describe, expect, it } from 'vitest'
import { ioError, isZero, RamDisk, type BlockDevice, type FileBlockDevice, type QcowError } from '../../src/index.js'
import { copyImage } from '../../src/cli/copy.js'
import type { Image } from '../../src/cli/image.js'
import type { Progress } from '../../src/cli/progress.js'
import { right } from '../helpers.js'

const MiB = 1024 * 1024

/** A raw image over a device (only what the copy uses: its disk, path and size, and its file's length). */
const rawImage = (disk: BlockDevice<QcowError>, sizeBytes: number, path: string): Image => ({
  path,
  format: 'raw',
  disk,
  qcow: undefined,
  file: { byteLength: () => TE.right(sizeBytes) } as Partial<FileBlockDevice> as FileBlockDevice,
  sizeBytes,
  writable: true,
})

/** A device recording each write's byte range, counting requests still running, and failing reads at `failAtByte`. */
const watched = (inner: BlockDevice<QcowError>, failAtByte = -1) => {
  const writes: Array<readonly [number, number]> = []
  let running = 0
  const track = <A>(task: TE.TaskEither<QcowError, A>): TE.TaskEither<QcowError, A> => async () => {
    running++
    const r = await task()
    running--
    return r
  }
  const device: BlockDevice<QcowError> = {
    ...inner,
    read: (sector, buffers) => {
      const bytes = buffers.reduce((n, b) => n + b.byteLength, 0)
      const hit = failAtByte >= sector * 512 && failAtByte < sector * 512 + bytes
      return track(hit ? TE.left(ioError('read', new Error('injected'))) : inner.read(sector, buffers))
    },
    write: (sector, buffers) => {
      writes.push([sector * 512, sector * 512 + buffers.reduce((n, b) => n + b.byteLength, 0)])
      return track(inner.write(sector, buffers))
    },
  }
  return { device, writes, running: () => running }
}

const silent: Progress = { update: () => undefined, stop: () => undefined }

const ramDisk = async (bytes: number): Promise<BlockDevice<QcowError>> => right(await RamDisk.connect({ size: bytes })())

describe('copyImage (convert)', () => {
  test.prop(
    [
      fc.constantFrom(512, 4096, 65536),
      fc.array(fc.record({ at: fc.integer({ min: 0, max: 18 * MiB - 1 }), length: fc.integer({ min: 1, max: 3 * MiB }), fill: fc.integer({ min: 1, max: 255 }) }), { maxLength: 12 }),
    ],
    { numRuns: 6 },
  )('the copy equals the source; zero granules are never written; writes come in disk order', async (granule, pieces) => {
    const size = 18 * MiB
    const src = await ramDisk(size)
    const data = new Uint8Array(size)
    for (const p of pieces) data.fill(p.fill, p.at, Math.min(size, p.at + p.length))
    right(await src.write(0, [data])())
    const dst = watched(await ramDisk(size))
    right(await copyImage(rawImage(src, size, 'src'), rawImage(dst.device, size, 'dst'), granule, silent)())
    const copied = new Uint8Array(size)
    right(await dst.device.read(0, [copied])())
    expect(Buffer.compare(copied, data)).toBe(0)
    const outOfOrder = dst.writes.filter((w, i) => i > 0 && w[0] < dst.writes[i - 1][1])
    expect(outOfOrder).toEqual([])
    const zeroWritten: number[] = []
    for (const [start, end] of dst.writes) {
      for (let g = start; g < end; g += granule) if (isZero(data.subarray(g, g + granule))) zeroWritten.push(g)
    }
    expect(zeroWritten).toEqual([])
  })

  it('the next chunk\'s writes start before the previous chunk\'s finish, two chunks at most', async () => {
    const size = 16 * MiB
    const src = await ramDisk(size)
    const data = new Uint8Array(size).fill(9)
    right(await src.write(0, [data])())
    const inner = await ramDisk(size)
    let running = 0
    let most = 0
    const starts: number[] = []
    const slow: BlockDevice<QcowError> = {
      ...inner,
      write: (sector, buffers) => async () => {
        starts.push(sector * 512)
        most = Math.max(most, ++running)
        await new Promise((resolve) => setImmediate(resolve))
        const r = await inner.write(sector, buffers)()
        running--
        return r
      },
    }
    right(await copyImage(rawImage(src, size, 'src'), rawImage(slow, size, 'dst'), 65536, silent)())
    expect(most).toBe(2)
    expect(starts).toEqual(Array.from({ length: 8 }, (_, i) => i * 2 * MiB))
    const copied = new Uint8Array(size)
    right(await inner.read(0, [copied])())
    expect(Buffer.compare(copied, data)).toBe(0)
  })

  it('a failed read fails the copy with its message, after every request it started has finished', async () => {
    const size = 32 * MiB
    const src = watched(await ramDisk(size), 13 * MiB + 5)
    right(await src.device.write(0, [new Uint8Array(size).fill(7)])())
    const dst = watched(await ramDisk(size))
    const r = await copyImage(rawImage(src.device, size, 'src'), rawImage(dst.device, size, 'dst'), 4096, silent)()
    expect(E.isLeft(r) && r.left).toEqual(expect.objectContaining({ file: 'src', exitCode: 1 }))
    expect(src.running() + dst.running()).toBe(0)
    expect(Math.max(...dst.writes.map(([, end]) => end))).toBeLessThanOrEqual(12 * MiB)
  })
})
