// `qcow convert` of a 1 GiB image with scattered data: the output stays sparse and qemu-img finds it identical.
import { existsSync } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describeWithQemu, qemuImg, qemuIoRaw } from '../support/qemu.js'
import { qcow } from './harness.js'

const GiB = 2 ** 30
const PIECE = 64 * 1024
const PIECES = 48

/** Deterministic scattered offsets (a fixed LCG), 64 KiB-aligned and distinct. */
const scatteredOffsets = (): number[] => {
  const offsets = new Set<number>()
  let x = 12345
  while (offsets.size < PIECES) {
    x = (x * 1103515245 + 12345) % 2 ** 31
    offsets.add((x % (GiB / PIECE)) * PIECE)
  }
  return [...offsets].sort((a, b) => a - b)
}

/** Bytes the file system really holds for a file. */
const allocated = async (path: string): Promise<number> => (await stat(path)).blocks * 512

describeWithQemu('convert keeps a 1 GiB image with scattered data sparse', () => {
  let dir = ''
  const dataBytes = PIECES * PIECE
  beforeAll(async () => {
    dir = await mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qcow-cli-sparse-'))
    const src = join(dir, 'src.raw')
    await qemuImg(['create', '-q', '-f', 'raw', src, '1G'])
    const writes = scatteredOffsets().flatMap((o, i) => ['-c', `write -P ${(i % 255) + 1} ${o} ${PIECE}`])
    const r = await qemuIoRaw(['-f', 'raw', ...writes, src])
    expect(r.code).toBe(0)
  })
  afterAll(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('raw to raw: allocated size close to the data size, and identical for qemu-img compare', async () => {
    const src = join(dir, 'src.raw')
    const out = join(dir, 'out.raw')
    const r = await qcow(['convert', '-f', 'raw', '-O', 'raw', src, out])
    expect(r).toEqual({ stdout: '', stderr: '', code: 0 })
    expect((await stat(out)).size).toBe(GiB)
    const used = await allocated(out)
    expect(used).toBeGreaterThanOrEqual(dataBytes)
    expect(used).toBeLessThanOrEqual(dataBytes + 1024 * 1024)
    const cmp = await qemuImg(['compare', '-f', 'raw', '-F', 'raw', src, out])
    expect(cmp.stdout).toBe('Images are identical.\n')
    expect(cmp.code).toBe(0)
  })

  it('raw to qcow2 and back: only the data clusters are allocated, qemu-img finds both identical and the qcow2 clean', async () => {
    const src = join(dir, 'src.raw')
    const q = join(dir, 'out.qcow2')
    expect(await qcow(['convert', '-O', 'qcow2', src, q])).toEqual({ stdout: '', stderr: '', code: 0 })
    expect((await qemuImg(['compare', '-f', 'raw', '-F', 'qcow2', src, q])).stdout).toBe('Images are identical.\n')
    const checked = await qemuImg(['check', '--output=json', q])
    expect(checked.code, checked.stdout + checked.stderr).toBe(0)
    const mapped = JSON.parse((await qemuImg(['map', '--output=json', q])).stdout) as Array<{ length: number; data: boolean }>
    expect(mapped.filter((e) => e.data).reduce((n, e) => n + e.length, 0)).toBe(dataBytes)
    expect(await allocated(q)).toBeLessThanOrEqual(dataBytes + 1024 * 1024)

    const back = join(dir, 'back.raw')
    expect(await qcow(['convert', '-O', 'raw', q, back])).toEqual({ stdout: '', stderr: '', code: 0 })
    expect((await qemuImg(['compare', '-f', 'raw', '-F', 'raw', src, back])).stdout).toBe('Images are identical.\n')
    const used = await allocated(back)
    expect(used).toBeGreaterThanOrEqual(dataBytes)
    expect(used).toBeLessThanOrEqual(dataBytes + 1024 * 1024)
  })
})
