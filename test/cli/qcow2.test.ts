// Differential tests of `qcow` against qemu-img/qemu-io on qcow2 images made by both tools.
import { mkdir, readFile, stat, truncate } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'
import { bothImg, jsonOf, omit, qcow, withoutTimings } from './harness.js'

/**
 * `qemu-img info` fields that legitimately differ between an image made by qemu-img and the same
 * image made by qcow: `filename` (two files) and `actual-size` (host blocks depend on how each tool
 * laid out and wrote its metadata).
 */
const INFO_FIELDS_THAT_DIFFER_BETWEEN_MAKERS = ['filename', 'actual-size']

/**
 * The length qcow gives a file QEMU makes `bytes` long: the same, rounded up to whole 512-byte
 * sectors (our base devices are sector-addressed; QEMU ends a new image mid-sector, after the L1 table).
 */
const inSectors = (bytes: number): number => Math.ceil(bytes / 512) * 512

/** Creation options exercised on both makers (sizes include a 1 TiB sparse image). */
const OPTION_SETS: ReadonlyArray<{ readonly name: string; readonly o: ReadonlyArray<string>; readonly size: string }> = [
  { name: 'defaults', o: [], size: '1G' },
  { name: '4k clusters', o: ['-o', 'cluster_size=4k'], size: '100M' },
  { name: 'compat 0.10', o: ['-o', 'compat=0.10'], size: '64M' },
  { name: 'lazy refcounts, 64-bit refcounts', o: ['-o', 'lazy_refcounts=on,refcount_bits=64'], size: '10G' },
  { name: '2M clusters, 1-bit refcounts', o: ['-o', 'cluster_size=2M,refcount_bits=1'], size: '1T' },
  { name: 'unaligned size', o: [], size: '1000' },
]

describeWithQemu('qcow on qcow2 images, against qemu-img and qemu-io', () => {
  const tmp = useTempDir('qcow-cli-qcow2-')

  describe.each(OPTION_SETS)('create and info ($name)', ({ name, o, size }) => {
    it('info --output=json equals qemu-img info on images made by either tool', async () => {
      const ours = tmp.file(`mk-ours-${name}.qcow2`)
      const theirs = tmp.file(`mk-qemu-${name}.qcow2`)
      const made = await qcow(['create', '-f', 'qcow2', ...o, ours, size])
      const q = await qemuImg(['create', '-f', 'qcow2', ...o, theirs, size])
      expect(made.code).toBe(q.code)
      expect(made.stdout).toBe(q.stdout.replace(theirs, ours))
      for (const f of [ours, theirs]) {
        const r = await bothImg(['info', '--output=json', f])
        expect(r.ours.code).toBe(0)
        expect(jsonOf(r.ours)).toEqual(jsonOf(r.qemu))
        const human = await bothImg(['info', f])
        expect(human.ours.stdout).toBe(human.qemu.stdout)
      }
      const [a, b] = await Promise.all([qemuImg(['info', '--output=json', ours]), qemuImg(['info', '--output=json', theirs])])
      expect(omit(jsonOf(a), INFO_FIELDS_THAT_DIFFER_BETWEEN_MAKERS)).toEqual(omit(jsonOf(b), INFO_FIELDS_THAT_DIFFER_BETWEEN_MAKERS))
      const checked = await qemuImg(['check', ours])
      expect(checked.code, checked.stdout + checked.stderr).toBe(0)
      expect((await stat(ours)).size).toBe(inSectors((await stat(theirs)).size))
    })
  })

  it('info on images with a backing file (relative, in a subdirectory, absolute) equals qemu-img info', async () => {
    const base = tmp.file('bk-base.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', base, '64M'])
    await mkdir(tmp.file('bk-sub'), { recursive: true })
    const tops = [
      { top: tmp.file('bk-top.qcow2'), backing: 'bk-base.qcow2' },
      { top: tmp.file('bk-sub/top.qcow2'), backing: '../bk-base.qcow2' },
      { top: tmp.file('bk-abs.qcow2'), backing: base },
    ]
    for (const { top, backing } of tops) {
      await qemuImg(['create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'qcow2', top])
      const json = await bothImg(['info', '--output=json', top])
      expect(jsonOf(json.ours)).toEqual(jsonOf(json.qemu))
      const human = await bothImg(['info', top])
      expect(human.ours.stdout).toBe(human.qemu.stdout)
    }
  })

  it('an image the engine refuses (extended L2, truncated header) gives one qcow: line and exit 1 in every subcommand', async () => {
    const ext = tmp.file('refused-ext.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'extended_l2=on', ext, '1M'])
    const cut = tmp.file('refused-cut.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', cut, '1M'])
    await truncate(cut, 100)
    for (const f of [ext, cut]) {
      for (const args of [['info', f], ['io', '-c', 'read 0 512', f], ['convert', '-O', 'raw', f, tmp.file('refused.raw')], ['check', f]]) {
        const r = await qcow(args)
        expect(r.code, args.join(' ')).toBe(1)
        expect(r.stderr).toMatch(new RegExp(`^qcow: ${f}: [^\\n]+\\n$`))
      }
      const cmp = await qcow(['compare', f, f])
      expect(cmp.code).toBe(2)
    }
  })

  describe('io', () => {
    const commands = ['write -P 0x5a 1000 70000', 'write 1M 4k', 'write -z 1004k 8k', 'write -P 7 3M 128k', 'discard 3M 64k', 'flush']
    const checks = ['read -P 0x5a 1000 70000', 'read -P 0xcd 1M 4k', 'read -P 0 1004k 8k', 'read -P 0 3M 64k', 'read -P 7 3136k 64k', 'read -P 0 0 1000']

    it('the same commands on images made by each tool leave the same contents, readable by both', async () => {
      const ours = tmp.file('io-ours.qcow2')
      const theirs = tmp.file('io-qemu.qcow2')
      await qcow(['create', '-q', '-f', 'qcow2', ours, '8M'])
      await qemuImg(['create', '-q', '-f', 'qcow2', theirs, '8M'])
      const args = (f: string) => [...commands.flatMap((c) => ['-c', c]), f]
      const o = await qcow(['io', ...args(ours)])
      const q = await qemuIoRaw(args(theirs))
      expect(o.code).toBe(0)
      expect(withoutTimings(o.stdout)).toBe(withoutTimings(q.stdout))
      for (const f of [ours, theirs]) {
        for (const c of checks) {
          const viaQemu = await qemuIoRaw(['-r', '-c', c, f])
          expect(viaQemu.stdout, `qemu-io ${c} on ${f}`).not.toMatch(/verification failed/)
          const viaUs = await qcow(['io', '-r', '-c', c, f])
          expect(viaUs.stdout, `qcow io ${c} on ${f}`).not.toMatch(/verification failed/)
          expect(viaUs.code).toBe(0)
        }
      }
      expect((await qemuImg(['compare', ours, theirs])).stdout).toBe('Images are identical.\n')
      const checked = await qemuImg(['check', ours])
      expect(checked.code, checked.stdout + checked.stderr).toBe(0)
    })

    it('read -P mismatch: same line and exit code 1 as qemu-io', async () => {
      const f = tmp.file('io-pattern.qcow2')
      await qemuImg(['create', '-q', '-f', 'qcow2', f, '1M'])
      await qemuIoRaw(['-c', 'write -P 0x11 4096 4096', f])
      const args = ['-r', '-c', 'read -P 0x11 4096 4096', '-c', 'read -P 0x11 4000 200', f]
      const q = await qemuIoRaw(args)
      const o = await qcow(['io', ...args])
      expect(withoutTimings(o.stdout)).toBe(withoutTimings(q.stdout))
      expect(o.code).toBe(q.code)
      expect(o.code).toBe(1)
    })
  })

  describe('convert', () => {
    const source = async (): Promise<string> => {
      const f = tmp.file('conv-src.qcow2')
      await qemuImg(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4k', f, '32M'])
      await qemuIoRaw(['-c', 'write -P 9 1M 100k', '-c', 'write -P 1 20M 1', '-c', 'write -P 0 24M 1M', '-c', 'write -z 30M 64k', f])
      return f
    }

    it('qcow2 to raw: the same bytes as qemu-img convert, sparse', async () => {
      const src = await source()
      const ours = tmp.file('conv-ours.raw')
      const theirs = tmp.file('conv-qemu.raw')
      const o = await qcow(['convert', '-O', 'raw', src, ours])
      const q = await qemuImg(['convert', '-O', 'raw', src, theirs])
      expect(o.code).toBe(q.code)
      expect(Buffer.compare(await readFile(ours), await readFile(theirs))).toBe(0)
      expect((await stat(ours)).blocks * 512).toBeLessThanOrEqual(200 * 1024)
    })

    it.each([
      { name: 'raw to qcow2', from: 'raw', o: [] as string[] },
      { name: 'qcow2 to qcow2 with 64k clusters', from: 'qcow2', o: ['-o', 'cluster_size=64k'] },
      { name: 'qcow2 to qcow2 v2', from: 'qcow2', o: ['-o', 'compat=0.10'] },
    ])('$name: identical for qemu-img compare, clean for qemu-img check, zero clusters left unallocated, as long as qemu-img\'s', async ({ from, o }) => {
      const src = await source()
      const input = from === 'raw' ? tmp.file('conv-in.raw') : src
      if (from === 'raw') await qemuImg(['convert', '-O', 'raw', src, input])
      const out = tmp.file(`conv-out-${from}-${o.join('')}.qcow2`)
      const r = await qcow(['convert', '-f', from, '-O', 'qcow2', ...o, input, out])
      expect(r).toEqual({ stdout: '', stderr: '', code: 0 })
      expect((await qemuImg(['compare', '-f', from, '-F', 'qcow2', input, out])).stdout).toBe('Images are identical.\n')
      const checked = await qemuImg(['check', '--output=json', out])
      expect(checked.code, checked.stdout + checked.stderr).toBe(0)
      const mapped = JSON.parse((await qemuImg(['map', '--output=json', out])).stdout) as Array<{ length: number; data: boolean }>
      const dataBytes = mapped.filter((e) => e.data).reduce((n, e) => n + e.length, 0)
      expect(dataBytes).toBeLessThanOrEqual(2 * 64 * 1024 + 128 * 1024)
      expect(dataBytes).toBeGreaterThan(0)
      const theirs = tmp.file(`conv-qemu-${from}-${o.join('')}.qcow2`)
      await qemuImg(['convert', '-f', from, '-O', 'qcow2', ...o, input, theirs])
      expect((await stat(out)).size).toBe(inSectors((await stat(theirs)).size))
    })
  })

  describe('compare', () => {
    it.each([
      { name: 'identical', a: ['write -P 7 0 64k'], b: ['write -P 7 0 64k'], bSize: '1M', strict: false },
      { name: 'one byte', a: ['write -P 7 0 64k'], b: ['write -P 7 0 64k', 'write -P 8 1001 1'], bSize: '1M', strict: false },
      { name: 'zero cluster vs unallocated', a: ['write -z 128k 64k'], b: [], bSize: '1M', strict: false },
      { name: 'longer, zero tail', a: ['write -P 3 0 4k'], b: ['write -P 3 0 4k'], bSize: '2M', strict: false },
      { name: 'longer, data in tail', a: [], b: ['write -P 2 1500k 1'], bSize: '2M', strict: false },
      { name: 'strict sizes', a: [], b: [], bSize: '2M', strict: true },
    ])('$name: same stdout and exit code as qemu-img compare', async ({ name, a, b, bSize, strict }) => {
      const fa = tmp.file(`cmp-${name}-a.qcow2`)
      const fb = tmp.file(`cmp-${name}-b.qcow2`)
      await qemuImg(['create', '-q', '-f', 'qcow2', fa, '1M'])
      await qcow(['create', '-q', '-f', 'qcow2', fb, bSize])
      if (a.length > 0) await qemuIoRaw([...a.flatMap((c) => ['-c', c]), fa])
      if (b.length > 0) await qcow(['io', ...b.flatMap((c) => ['-c', c]), fb])
      for (const [x, y] of [[fa, fb], [fb, fa]]) {
        const r = await bothImg(['compare', ...(strict ? ['-s'] : []), x, y])
        expect(r.ours.stdout).toBe(r.qemu.stdout)
        expect(r.ours.code).toBe(r.qemu.code)
      }
    })

    it('qcow2 against its raw conversion is identical; a qcow2 image read as raw differs', async () => {
      const q = tmp.file('cmp-mixed.qcow2')
      const raw = tmp.file('cmp-mixed.raw')
      await qemuImg(['create', '-q', '-f', 'qcow2', q, '4M'])
      await qemuIoRaw(['-c', 'write -P 0x33 1M 64k', q])
      await qemuImg(['convert', '-O', 'raw', q, raw])
      for (const args of [[q, raw], ['-f', 'raw', '-F', 'raw', q, raw]]) {
        const r = await bothImg(['compare', ...args])
        expect(r.ours.stdout).toBe(r.qemu.stdout)
        expect(r.ours.code).toBe(r.qemu.code)
      }
    })
  })
})
