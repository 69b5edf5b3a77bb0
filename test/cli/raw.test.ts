// Differential tests of `qcow` against qemu-img/qemu-io on raw images: create, info, compare, io, convert, resize.
import { stat } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'
import { bothImg, jsonOf, qcow, withoutTimings } from './harness.js'

const fileSize = async (path: string): Promise<number> => (await stat(path)).size

describeWithQemu('qcow on raw images, against qemu-img and qemu-io', () => {
  const tmp = useTempDir('qcow-cli-raw-')

  describe('create', () => {
    it.each(['0', '1', '513', '1k', '1K', '1.5k', '1.0001k', '64M', '0x1000', '1b', '1T', '1P'])(
      'create -f raw FILE %s: same exit code and file size as qemu-img',
      async (size) => {
        const ours = await qcow(['create', '-f', 'raw', tmp.file(`ours-${size}`), size])
        const qemu = await qemuImg(['create', '-f', 'raw', tmp.file(`qemu-${size}`), size])
        expect(ours.code).toBe(qemu.code)
        expect(ours.stdout).toBe(qemu.stdout.replaceAll('qemu-', 'ours-'))
        expect(await fileSize(tmp.file(`ours-${size}`))).toBe(await fileSize(tmp.file(`qemu-${size}`)))
      },
    )

    it.each(['1Q', '1.5', '', '10kB', '1kk', '1k '])('create -f raw FILE "%s" is refused by both, ours naming the accepted sizes', async (size) => {
      const ours = await qcow(['create', '-f', 'raw', tmp.file('bad'), size])
      const qemu = await qemuImg(['create', '-f', 'raw', tmp.file('bad'), size])
      expect(qemu.code).toBe(1)
      expect(ours.code).toBe(1)
      expect(ours.stderr).toMatch(/^qcow: invalid size .*k, M, G, T, P or E suffix.*from 0 to 9007199254740991 bytes\n$/)
    })
  })

  describe('info', () => {
    it.each([0, 1000, 512, 10 * 1024 * 1024, 3 * 2 ** 30])('info on a %i-byte raw file: JSON and human output equal qemu-img', async (bytes) => {
      const file = tmp.file(`info-${bytes}.raw`)
      await qemuImg(['create', '-q', '-f', 'raw', file, String(bytes)])
      await qemuIoRaw(['-f', 'raw', '-c', `truncate ${bytes}`, file])
      const json = await bothImg(['info', '--output=json', file])
      expect(json.ours.code).toBe(0)
      expect(jsonOf(json.ours)).toEqual(jsonOf(json.qemu))
      const human = await bothImg(['info', file])
      expect(human.ours.stdout).toBe(human.qemu.stdout)
    })

    it('info on a missing file: exit code 1 and one qcow: line', async () => {
      const r = await bothImg(['info', tmp.file('missing')])
      expect(r.ours.code).toBe(r.qemu.code)
      expect(r.ours.stderr).toMatch(/^qcow: .*missing: .*no such file or directory.*\n$/)
    })
  })

  describe('compare', () => {
    const cases: ReadonlyArray<{ name: string; a: { size: string; io: string[] }; b: { size: string; io: string[] }; strict?: boolean }> = [
      { name: 'identical', a: { size: '1M', io: ['write -P 7 0 64k'] }, b: { size: '1M', io: ['write -P 7 0 64k'] } },
      { name: 'one byte differs', a: { size: '1M', io: ['write -P 7 0 64k'] }, b: { size: '1M', io: ['write -P 7 0 64k', 'write -P 8 1001 1'] } },
      { name: 'data vs hole', a: { size: '1M', io: [] }, b: { size: '1M', io: ['write -P 1 700k 1'] } },
      { name: 'longer with zero tail', a: { size: '1M', io: ['write -P 3 0 4k'] }, b: { size: '2M', io: ['write -P 3 0 4k'] } },
      { name: 'longer with data in tail', a: { size: '1M', io: [] }, b: { size: '2M', io: ['write -P 2 1500k 1'] } },
      { name: 'shorter second', a: { size: '2M', io: ['write -P 2 1500k 1'] }, b: { size: '1M', io: [] } },
      { name: 'strict sizes', a: { size: '1M', io: [] }, b: { size: '2M', io: [] }, strict: true },
    ]
    it.each(cases)('compare ($name): same stdout and exit code as qemu-img', async ({ name, a, b, strict }) => {
      const fa = tmp.file(`cmp-${name}-a.raw`)
      const fb = tmp.file(`cmp-${name}-b.raw`)
      for (const [f, spec] of [[fa, a], [fb, b]] as const) {
        await qemuImg(['create', '-q', '-f', 'raw', f, spec.size])
        if (spec.io.length > 0) await qemuIoRaw(['-f', 'raw', ...spec.io.flatMap((c) => ['-c', c]), f])
      }
      const r = await bothImg(['compare', ...(strict === true ? ['-s'] : []), '-f', 'raw', '-F', 'raw', fa, fb])
      expect(r.ours.stdout).toBe(r.qemu.stdout)
      expect(r.ours.code).toBe(r.qemu.code)
    })

    it('compare -q prints nothing and keeps the exit code, like qemu-img', async () => {
      const fa = tmp.file('cmp-q-a.raw')
      const fb = tmp.file('cmp-q-b.raw')
      await qemuImg(['create', '-q', '-f', 'raw', fa, '1M'])
      await qemuImg(['create', '-q', '-f', 'raw', fb, '1M'])
      await qemuIoRaw(['-f', 'raw', '-c', 'write -P 1 4k 1', fb])
      const r = await bothImg(['compare', '-q', fa, fb])
      expect(r.ours).toEqual({ stdout: '', stderr: '', code: 1 })
      expect(r.qemu.code).toBe(1)
      expect(r.qemu.stdout).toBe('')
    })

    it('compare with a missing image exits 2 like qemu-img', async () => {
      const fa = tmp.file('cmp-present.raw')
      await qemuImg(['create', '-q', '-f', 'raw', fa, '1M'])
      const r = await bothImg(['compare', fa, tmp.file('absent.raw')])
      expect(r.qemu.code).toBe(2)
      expect(r.ours.code).toBe(2)
      expect(r.ours.stderr).toMatch(/^qcow: .*absent\.raw: /)
    })
  })

  describe('io', () => {
    it('writes that qemu-io reads back, and qemu-io writes that we read back, with the same summary lines', async () => {
      const ours = tmp.file('io-ours.raw')
      const theirs = tmp.file('io-theirs.raw')
      await qemuImg(['create', '-q', '-f', 'raw', ours, '4M'])
      await qemuImg(['create', '-q', '-f', 'raw', theirs, '4M'])
      const commands = ['write -P 0x5a 1000 70000', 'write 1M 4k', 'write -z 1004k 8k', 'discard 2M 64k', 'flush']
      const args = (f: string) => ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), f]
      const q = await qemuIoRaw(args(theirs))
      const o = await qcow(['io', ...args(ours)])
      expect(o.code).toBe(0)
      expect(withoutTimings(o.stdout)).toBe(withoutTimings(q.stdout))
      const checks = ['read -P 0x5a 1000 70000', 'read -P 0xcd 1M 4k', 'read -P 0 2M 64k', 'read -P 0 0 1000']
      for (const f of [ours, theirs]) {
        for (const c of checks) {
          const back = await qemuIoRaw(['-f', 'raw', '-r', '-c', c, f])
          expect(back.stdout).not.toMatch(/verification failed/)
          const mine = await qcow(['io', '-f', 'raw', '-r', '-c', c, f])
          expect(mine.stdout, `${c} on ${f}`).not.toMatch(/verification failed/)
          expect(mine.code).toBe(0)
        }
      }
      const cmp = await qemuImg(['compare', '-f', 'raw', '-F', 'raw', ours, theirs])
      expect(cmp.code).toBe(0)
    })

    it('write -z and discard zero the data but leave holes unallocated', async () => {
      const f = tmp.file('io-zero.raw')
      await qemuImg(['create', '-q', '-f', 'raw', f, '64M'])
      const before = (await stat(f)).blocks
      const o = await qcow(['io', '-f', 'raw', '-c', 'write -P 3 1M 64k', '-c', 'write -z 0 32M', '-c', 'discard 32M 32M', f])
      expect(o.code).toBe(0)
      expect((await stat(f)).blocks).toBeLessThanOrEqual(before + 64 * 2)
      const back = await qemuIoRaw(['-f', 'raw', '-r', '-c', 'read -P 0 0 64M', f])
      expect(back.stdout).not.toMatch(/verification failed/)
    })

    it('read -P with a wrong pattern: same message and exit code 1 as qemu-io', async () => {
      const f = tmp.file('io-pattern.raw')
      await qemuImg(['create', '-q', '-f', 'raw', f, '1M'])
      await qemuIoRaw(['-f', 'raw', '-c', 'write -P 0x11 4096 4096', f])
      const args = ['-f', 'raw', '-r', '-c', 'read -P 0x11 4096 4096', '-c', 'read -P 0x12 4000 200', f]
      const q = await qemuIoRaw(args)
      const o = await qcow(['io', ...args])
      expect(withoutTimings(o.stdout)).toBe(withoutTimings(q.stdout))
      expect(o.stdout).toMatch(/Pattern verification failed at offset 4000, 200 bytes/)
      expect(o.code).toBe(q.code)
      expect(o.code).toBe(1)
    })

    it('writes on a read-only image and past the end fail with exit code 1', async () => {
      const f = tmp.file('io-ro.raw')
      await qemuImg(['create', '-q', '-f', 'raw', f, '1M'])
      for (const args of [['-r', '-c', 'write 0 512'], ['-c', 'write 1M 512']]) {
        const q = await qemuIoRaw(['-f', 'raw', ...args, f])
        const o = await qcow(['io', '-f', 'raw', ...args, f])
        expect(o.code).toBe(q.code)
        expect(o.code).toBe(1)
        expect(o.stderr).toMatch(/^qcow: .*io-ro\.raw: write failed: /)
      }
    })

    it.each(['read -P 256 0 1', 'read 0', 'bogus 0 1', 'write -x 0 1', 'read 0 1Q'])('bad command "%s" exits 1 like qemu-io', async (c) => {
      const f = tmp.file('io-bad.raw')
      await qemuImg(['create', '-q', '-f', 'raw', f, '1M'])
      const q = await qemuIoRaw(['-f', 'raw', '-c', c, f])
      const o = await qcow(['io', '-f', 'raw', '-c', c, f])
      expect(o.code).toBe(q.code)
      expect(o.stderr).toMatch(/^qcow: .+\n$/)
    })
  })

  describe('convert and resize', () => {
    it('convert -O raw gives the bytes qemu-img convert gives, and leaves holes', async () => {
      const src = tmp.file('conv-src.raw')
      await qemuImg(['create', '-q', '-f', 'raw', src, '64M'])
      await qemuIoRaw(['-f', 'raw', '-c', 'write -P 9 1M 100k', '-c', 'write -P 1 40M 1', '-c', 'write -P 0 50M 1M', src])
      const ours = await qcow(['convert', '-f', 'raw', '-O', 'raw', src, tmp.file('conv-ours.raw')])
      const qemu = await qemuImg(['convert', '-f', 'raw', '-O', 'raw', src, tmp.file('conv-qemu.raw')])
      expect(ours.code).toBe(qemu.code)
      expect(ours.stdout).toBe('')
      const cmp = await qemuImg(['compare', '-f', 'raw', '-F', 'raw', tmp.file('conv-ours.raw'), tmp.file('conv-qemu.raw')])
      expect(cmp.stdout).toBe('Images are identical.\n')
      const st = await stat(tmp.file('conv-ours.raw'))
      expect(st.size).toBe(64 * 2 ** 20)
      expect(st.blocks * 512).toBeLessThanOrEqual(112 * 1024)
    })

    it.each([{ args: ['+1M'] }, { args: ['1G'] }, { args: ['-1M'] }, { args: ['--shrink', '-1M'] }, { args: ['--shrink', '1536'] }])(
      'resize $args: same exit code, output and size as qemu-img',
      async ({ args }) => {
        const name = args.join('')
        const ours = tmp.file(`rs-ours${name}.raw`)
        const theirs = tmp.file(`rs-qemu${name}.raw`)
        for (const f of [ours, theirs]) await qemuImg(['create', '-q', '-f', 'raw', f, '4M'])
        const size = args[args.length - 1]
        const flags = args.slice(0, -1)
        const q = await qemuImg(['resize', '-f', 'raw', ...flags, theirs, size])
        const o = await qcow(['resize', '-f', 'raw', ...flags, ours, size])
        expect(o.code).toBe(q.code)
        expect(o.stdout).toBe(q.stdout)
        expect(await fileSize(ours)).toBe(await fileSize(theirs))
      },
    )

    it('resize to a size that is not whole sectors is refused (qemu-img allows it on raw files)', async () => {
      const f = tmp.file('rs-odd.raw')
      await qemuImg(['create', '-q', '-f', 'raw', f, '4M'])
      const o = await qcow(['resize', '-f', 'raw', '--shrink', f, '1000'])
      expect(o.code).toBe(1)
      expect(o.stderr).toBe(`qcow: ${f}: the new size must be a multiple of 512 bytes, got 1000\n`)
      expect(await fileSize(f)).toBe(4 * 2 ** 20)
    })
  })
})
