// `qcow compare -s` against `qemu-img compare -s` on random pairs of qcow2 images: block status and content mismatches.
import { describe, expect, it } from 'vitest'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'
import { qcow } from './harness.js'

/** A small deterministic generator (mulberry32), so a failing pair can be rebuilt from its seed. */
const generator = (seed: number) => {
  let s = seed >>> 0
  return (n: number): number => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) % n)
  }
}

const SIZE = 4 * 1024 * 1024
const K4 = 4096

/** A random qemu-io command on a 4 MiB disk, 4k-aligned: pattern writes (pattern 0 included), zero writes, discards. */
const randomOp = (r: (n: number) => number): string => {
  const off = r(SIZE / K4) * K4
  const len = (1 + r(Math.min(48, (SIZE - off) / K4))) * K4
  switch (r(4)) {
    case 0:
      return `write -z ${off} ${len}`
    case 1:
      return `discard ${off} ${len}`
    default:
      return `write -P ${r(3)} ${off} ${len}`
  }
}

const PAIRS = Number(process.env.QCOW_STRICT_PAIRS ?? 16)
const CHAIN_PAIRS = Number(process.env.QCOW_STRICT_CHAIN_PAIRS ?? 8)

describeWithQemu('compare -s against qemu-img compare -s', () => {
  const tmp = useTempDir('qcow-cli-strict-')

  it(`${PAIRS} random image pairs: same message and exit code, with and without -s`, async () => {
    const outcomes = new Set<string>()
    for (let seed = 1; seed <= PAIRS; seed++) {
      const r = generator(seed)
      const common = Array.from({ length: r(5) }, () => randomOp(r))
      const files = [tmp.file(`p${seed}-a.qcow2`), tmp.file(`p${seed}-b.qcow2`)]
      const sameClusters = r(4) !== 0
      for (const [i, f] of files.entries()) {
        const cluster = sameClusters || i === 0 ? '64k' : '4k'
        await qemuImg(['create', '-q', '-f', 'qcow2', '-o', `cluster_size=${cluster}`, f, String(SIZE)])
        const own = Array.from({ length: r(3) }, () => randomOp(r))
        const ops = [...common, ...own]
        if (ops.length > 0) await qemuIoRaw([...ops.flatMap((c) => ['-c', c]), f])
      }
      for (const flags of [['-s'], []]) {
        const q = await qemuImg(['compare', ...flags, ...files])
        const o = await qcow(['compare', ...flags, ...files])
        expect({ seed, flags, stdout: o.stdout, code: o.code }).toEqual({ seed, flags, stdout: q.stdout, code: q.code })
        outcomes.add(q.stdout.replace(/[0-9]+/g, 'N'))
      }
    }
    // The pairs exercise every verdict: identical, content mismatch, block status mismatch.
    expect([...outcomes].sort()).toEqual(['Content mismatch at offset N!\n', 'Images are identical.\n', 'Strict mode: Offset N block status mismatch!\n'])
  })

  it(`${CHAIN_PAIRS} random pairs of overlays over shorter, equal and qcow2 or raw backings: same message and exit code`, async () => {
    const outcomes = new Set<string>()
    for (let seed = 1; seed <= CHAIN_PAIRS; seed++) {
      const r = generator(1000 + seed)
      const common = Array.from({ length: r(4) }, () => randomOp(r))
      const files: string[] = []
      for (const side of ['a', 'b']) {
        const base = tmp.file(`c${seed}-${side}-base`)
        const baseSize = [SIZE / 2, SIZE, SIZE][r(3)]
        const rawBase = r(4) === 0
        if (rawBase) {
          await qemuImg(['create', '-q', '-f', 'raw', '-o', 'preallocation=full', base, String(baseSize)])
          await qemuIoRaw(['-f', 'raw', '-c', `write -P 1 0 ${baseSize}`, base])
        } else {
          await qemuImg(['create', '-q', '-f', 'qcow2', '-o', `cluster_size=${r(3) === 0 ? '4k' : '64k'}`, base, String(baseSize)])
          const baseOps = [...common.filter((c) => !c.includes(` ${baseSize}`)), ...Array.from({ length: r(3) }, () => randomOp(r))]
            .filter((c) => Number(c.split(' ').at(-2)) + Number(c.split(' ').at(-1)) <= baseSize)
          if (baseOps.length > 0) await qemuIoRaw([...baseOps.flatMap((c) => ['-c', c]), base])
        }
        const top = tmp.file(`c${seed}-${side}.qcow2`)
        await qemuImg(['create', '-q', '-f', 'qcow2', '-b', base, '-F', rawBase ? 'raw' : 'qcow2', top, String(SIZE)])
        const ops = [...common, ...Array.from({ length: r(3) }, () => randomOp(r))]
        if (ops.length > 0) await qemuIoRaw([...ops.flatMap((c) => ['-c', c]), top])
        files.push(top)
      }
      for (const flags of [['-s'], []]) {
        const q = await qemuImg(['compare', ...flags, ...files])
        const o = await qcow(['compare', '--allow-backing-path', ...flags, ...files])
        expect({ seed, flags, stdout: o.stdout, code: o.code }).toEqual({ seed, flags, stdout: q.stdout, code: q.code })
        outcomes.add(q.stdout.replace(/[0-9]+/g, 'N'))
      }
    }
    expect(outcomes.size).toBeGreaterThan(1)
  })

  describe('raw against qcow2', () => {
    it('a fully allocated raw file against a qcow2 image holding the same data', async () => {
      const raw = tmp.file('full.raw')
      const q2 = tmp.file('full.qcow2')
      await qemuImg(['create', '-q', '-f', 'raw', '-o', 'preallocation=full', raw, '1M'])
      await qemuIoRaw(['-f', 'raw', '-c', 'write -P 3 0 1M', raw])
      await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, q2])
      for (const pair of [[raw, q2], [q2, raw]]) {
        const q = await qemuImg(['compare', '-s', ...pair])
        const o = await qcow(['compare', '-s', ...pair])
        expect(o.stdout).toBe(q.stdout)
        expect(o.code).toBe(q.code)
      }
    })
  })
})
