// Backing chains through the qcow command, against qemu-img: create -b, info --backing-chain, map depth, commit, rebase, the directory gate.
import { cp, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'
import { jsonOf, omit, qcow } from './harness.js'

/** A chain raw <- mid.qcow2 <- top.qcow2 and the writes made on each layer. */
interface ChainSpec {
  readonly name: string
  readonly baseSize: string
  readonly mid: { readonly size: string; readonly o: ReadonlyArray<string>; readonly io: ReadonlyArray<string> }
  readonly top: { readonly size?: string; readonly o: ReadonlyArray<string>; readonly io: ReadonlyArray<string> }
}

const CHAINS: ReadonlyArray<ChainSpec> = [
  {
    name: 'raw base shorter than the overlays, 4k clusters in the middle',
    baseSize: '4M',
    mid: { size: '6M', o: ['-o', 'cluster_size=4k'], io: ['write -P 2 512k 132k', 'write -z 2M 64k', 'write -P 3 5M 8k'] },
    top: { o: [], io: ['write -P 5 0 64k', 'write -P 6 1000k 4k', 'discard 5M 64k'] },
  },
  {
    name: 'backing longer than the overlay, 128k clusters on top, v2 middle',
    baseSize: '8M',
    mid: { size: '8M', o: ['-o', 'compat=0.10'], io: ['write -P 7 64k 64k', 'write -P 8 7M 1M'] },
    top: { size: '3M', o: ['-o', 'cluster_size=128k'], io: ['write -P 9 128k 4k', 'write -z 256k 128k'] },
  },
]

/** qemu-img info fields that differ between two copies of one chain in two directories (names, host blocks). */
const DIFFERING = ['filename', 'actual-size', 'full-backing-filename']

/**
 * A qemu-img map without host offsets, re-merged: which layer holds what, and whether it is data or
 * zero. Host placement legitimately differs between the two tools (allocation order, and qemu's
 * commit unmaps zeroed clusters where ours keeps them preallocated).
 */
const hostLayoutFree = (mapJson: string): ReadonlyArray<Record<string, unknown>> => {
  const out: Array<Record<string, unknown>> = []
  for (const e of JSON.parse(mapJson) as Array<Record<string, unknown>>) {
    const { offset: _offset, ...rest } = e
    const last = out[out.length - 1]
    if (last !== undefined && ['depth', 'present', 'zero', 'data'].every((k) => last[k] === rest[k])) last.length = Number(last.length) + Number(rest.length)
    else out.push({ ...rest })
  }
  return out
}

const withPatterns = (io: ReadonlyArray<string>): string[] => io.flatMap((c) => ['-c', c])

describeWithQemu('backing chains through qcow, against qemu-img', () => {
  const tmp = useTempDir('qcow-cli-backing-')

  /** Makes the chain in `dir`: a fully allocated raw base (qemu-img reports raw holes, which Node cannot see), mid, top. */
  const makeChain = async (dir: string, spec: ChainSpec, maker: 'qcow' | 'qemu'): Promise<{ stdout: string; top: string }> => {
    await mkdir(dir, { recursive: true })
    const base = join(dir, 'base.raw')
    await qemuImg(['create', '-q', '-f', 'raw', '-o', 'preallocation=full', base, spec.baseSize])
    await qemuIoRaw(['-f', 'raw', '-c', 'write -P 1 0 1M', '-c', 'write -P 4 3M 4k', base])
    const tool = maker === 'qcow' ? qcow : qemuImg
    const mid = await tool(['create', '-f', 'qcow2', ...spec.mid.o, '-b', 'base.raw', '-F', 'raw', join(dir, 'mid.qcow2'), spec.mid.size])
    const top = await tool(['create', '-f', 'qcow2', ...spec.top.o, '-b', 'mid.qcow2', '-F', 'qcow2', join(dir, 'top.qcow2'), ...(spec.top.size === undefined ? [] : [spec.top.size])])
    expect(mid.code, mid.stderr).toBe(0)
    expect(top.code, top.stderr).toBe(0)
    await qemuIoRaw([...withPatterns(spec.mid.io), join(dir, 'mid.qcow2')])
    await qemuIoRaw([...withPatterns(spec.top.io), join(dir, 'top.qcow2')])
    return { stdout: mid.stdout + top.stdout, top: join(dir, 'top.qcow2') }
  }

  /** The same chain made by qcow (in ours/) and by qemu-img (in qemu/). */
  const twins = async (spec: ChainSpec, tag: string): Promise<{ ours: string; theirs: string }> => {
    const a = await makeChain(tmp.file(`${tag}-ours`), spec, 'qcow')
    const b = await makeChain(tmp.file(`${tag}-qemu`), spec, 'qemu')
    expect(a.stdout).toBe(b.stdout.replaceAll(tmp.file(`${tag}-qemu`), tmp.file(`${tag}-ours`)))
    return { ours: a.top, theirs: b.top }
  }

  /** qemu-img's view of every layer of two chains is the same, apart from names and host blocks; their content is identical. */
  const expectSameChains = async (ours: string, theirs: string): Promise<void> => {
    const [a, b] = await Promise.all([qemuImg(['info', '--backing-chain', '--output=json', ours]), qemuImg(['info', '--backing-chain', '--output=json', theirs])])
    const strip = (r: typeof a) => (JSON.parse(r.stdout) as Array<Record<string, unknown>>).map((o) => omit(o, DIFFERING))
    expect(strip(a)).toEqual(strip(b))
    const same = await qemuImg(['compare', ours, theirs])
    expect(same.code, same.stdout + same.stderr).toBe(0)
    const sameMid = await qemuImg(['compare', join(ours, '..', 'mid.qcow2'), join(theirs, '..', 'mid.qcow2')])
    expect(sameMid.code, sameMid.stdout + sameMid.stderr).toBe(0)
    const [ma, mb] = await Promise.all([qemuImg(['map', '--output=json', ours]), qemuImg(['map', '--output=json', theirs])])
    expect(hostLayoutFree(ma.stdout)).toEqual(hostLayoutFree(mb.stdout))
    for (const f of [ours, join(ours, '..', 'mid.qcow2')]) {
      const checked = await qemuImg(['check', f])
      expect(checked.code, checked.stdout + checked.stderr).toBe(0)
    }
  }

  describe.each(CHAINS.map((c, i) => ({ ...c, tag: `c${i}` })))('$name', (spec) => {
    it('create -b -F (size from the backing or given) prints and makes what qemu-img does; info --backing-chain and map equal qemu-img; convert reads through the chain', async () => {
      const { ours, theirs } = await twins(spec, `${spec.tag}-mk`)
      await expectSameChains(ours, theirs)
      const flat = tmp.file(`${spec.tag}-flat.raw`)
      const converted = await qcow(['convert', '-O', 'raw', ours, flat])
      expect(converted.code, converted.stderr).toBe(0)
      const sameFlat = await qemuImg(['compare', '-F', 'raw', ours, flat])
      expect(sameFlat.code, sameFlat.stdout + sameFlat.stderr).toBe(0)
      for (const f of [ours, theirs]) {
        const json = { ours: await qcow(['info', '--backing-chain', '--output=json', f]), qemu: await qemuImg(['info', '--backing-chain', '--output=json', f]) }
        expect(json.ours.code).toBe(0)
        expect(jsonOf(json.ours)).toEqual(jsonOf(json.qemu))
        const human = { ours: await qcow(['info', '--backing-chain', f]), qemu: await qemuImg(['info', '--backing-chain', f]) }
        expect(human.ours.stdout).toBe(human.qemu.stdout)
        for (const output of ['json', 'human']) {
          const m = { ours: await qcow(['map', `--output=${output}`, f]), qemu: await qemuImg(['map', `--output=${output}`, f]) }
          expect(m.ours.code).toBe(m.qemu.code)
          expect(m.ours.stdout).toBe(m.qemu.stdout)
        }
      }
    })

    it('commit gives the layers qemu-img commit gives', async () => {
      const { ours } = await twins(spec, `${spec.tag}-cm`)
      const theirs = tmp.file(`${spec.tag}-cm-copy`)
      await cp(join(ours, '..'), theirs, { recursive: true })
      const o = await qcow(['commit', ours])
      const q = await qemuImg(['commit', join(theirs, 'top.qcow2')])
      expect(o.code).toBe(q.code)
      expect(o.stdout).toBe(q.stdout)
      await expectSameChains(ours, join(theirs, 'top.qcow2'))
    })

    it.each([
      { name: 'safe, onto the raw base', args: ['-b', 'base.raw', '-F', 'raw'] },
      { name: 'safe, onto nothing', args: ['-b', ''] },
      { name: 'unsafe, onto the raw base', args: ['-u', '-b', 'base.raw', '-F', 'raw'] },
      { name: 'no backing format (refused)', args: ['-b', 'base.raw'] },
      { name: 'unsafe, onto a file that does not exist yet', args: ['-u', '-b', 'later.qcow2', '-F', 'qcow2'], headerOnly: true },
    ])('rebase ($name) gives the image qemu-img rebase gives', async ({ name, args, headerOnly }) => {
      const tag = `${spec.tag}-rb-${name.replace(/[^a-z]/g, '')}`
      const { ours } = await twins(spec, tag)
      const theirs = tmp.file(`${tag}-copy`)
      await cp(join(ours, '..'), theirs, { recursive: true })
      const before = await qemuImg(['map', '--output=json', ours])
      const o = await qcow(['rebase', ...args, ours])
      const q = await qemuImg(['rebase', ...args, join(theirs, 'top.qcow2')])
      expect(o.code, o.stderr).toBe(q.code)
      expect(o.stdout).toBe(q.stdout)
      if (headerOnly === true) {
        const [a, b] = await Promise.all([qemuImg(['info', '--output=json', ours]), qemuImg(['info', '--output=json', join(theirs, 'top.qcow2')])])
        expect(omit(jsonOf(a), DIFFERING)).toEqual(omit(jsonOf(b), DIFFERING))
        // Once the file appears, both chains read through it alike.
        for (const d of [join(ours, '..'), theirs]) await cp(join(d, 'mid.qcow2'), join(d, 'later.qcow2'))
        await expectSameChains(ours, join(theirs, 'top.qcow2'))
      } else if (q.code === 0) await expectSameChains(ours, join(theirs, 'top.qcow2'))
      else {
        // qemu-img copies data up before it finds the format missing; qcow refuses before touching the image.
        expect(o.stderr).toMatch(/^qcow: [^\n]+: [^\n]+\n$/)
        expect((await qemuImg(['map', '--output=json', ours])).stdout).toBe(before.stdout)
      }
    })
  })

  it('exit codes and messages where qemu-img refuses', async () => {
    const dir = tmp.file('refusals')
    await mkdir(dir, { recursive: true })
    const plain = join(dir, 'plain.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', plain, '1M'])
    const cases: ReadonlyArray<ReadonlyArray<string>> = [
      ['commit', plain],
      ['rebase', plain],
      ['create', '-f', 'qcow2', '-b', 'plain.qcow2', join(dir, 'nofmt.qcow2')],
      ['create', '-f', 'raw', '-b', 'plain.qcow2', '-F', 'qcow2', join(dir, 'r.raw'), '1M'],
      ['create', '-f', 'qcow2', '-b', 'missing.qcow2', '-F', 'qcow2', join(dir, 'm.qcow2')],
    ]
    for (const args of cases) {
      const o = await qcow(args)
      const q = await qemuImg(args)
      expect(o.code, args.join(' ')).toBe(q.code)
      expect(o.stderr).toMatch(/^qcow: [^\n]+\n$/)
    }
  })

  it('create with a backing that cannot be opened leaves an existing file intact and makes no new one, as qemu-img does', async () => {
    const dir = tmp.file('create-fails')
    await mkdir(join(dir, 'sub'), { recursive: true })
    await writeFile(join(dir, 'raw.img'), new Uint8Array(64 * 1024).fill(3))
    const old = new Uint8Array(70000).fill(0x5a)
    /** The backing arguments, and whether qemu-img refuses them too (the directory gate is ours alone). */
    const cases: ReadonlyArray<{ readonly backing: ReadonlyArray<string>; readonly qemuRefuses: boolean }> = [
      { backing: ['-b', 'missing.qcow2', '-F', 'qcow2'], qemuRefuses: true },
      { backing: ['-b', 'raw.img', '-F', 'qcow2'], qemuRefuses: true },
      { backing: ['-b', 'sub', '-F', 'raw'], qemuRefuses: true },
      { backing: ['-b', join(dir, 'raw.img'), '-F', 'raw'], qemuRefuses: false },
    ]
    for (const { backing, qemuRefuses } of cases) {
      for (const existing of [true, false]) {
        const size = existing ? [] : ['1M']
        const what = `${backing.join(' ')} ${size.join('')} (${existing ? 'existing' : 'new'} file)`
        const [ours, theirs] = [join(dir, 'ours.qcow2'), join(dir, 'theirs.qcow2')]
        for (const f of [ours, theirs]) {
          await rm(f, { force: true })
          if (existing) await writeFile(f, old)
        }
        const o = await qcow(['create', '-f', 'qcow2', ...backing, ours, ...size])
        expect(o.code, what).toBe(1)
        expect(o.stderr, what).toMatch(/^qcow: [^\n]+\n$/)
        expect(o.stdout, what).toBe('')
        if (existing) expect(new Uint8Array(await readFile(ours)), what).toEqual(old)
        else await expect(stat(ours), what).rejects.toThrow()
        if (!qemuRefuses) continue
        const q = await qemuImg(['create', '-f', 'qcow2', ...backing, theirs, ...size])
        expect(q.code, what).toBe(o.code)
        if (existing) expect(new Uint8Array(await readFile(theirs)), what).toEqual(old)
        else await expect(stat(theirs), what).rejects.toThrow()
      }
    }
    const made = await qcow(['create', '-q', '-f', 'qcow2', '-b', 'raw.img', '-F', 'raw', join(dir, 'ours.qcow2')])
    expect(made.code, made.stderr).toBe(0)
    expect(jsonOf(await qemuImg(['info', '--output=json', join(dir, 'ours.qcow2')]))['virtual-size']).toBe(64 * 1024)
  })

  it('backing files outside the image directory are opened only with --allow-backing-path', async () => {
    const dir = tmp.file('gate')
    await mkdir(join(dir, 'sub'), { recursive: true })
    const base = join(dir, 'base.raw')
    await qemuImg(['create', '-q', '-f', 'raw', '-o', 'preallocation=full', base, '2M'])
    await qemuIoRaw(['-f', 'raw', '-c', 'write -P 1 0 1M', base])
    const top = join(dir, 'sub', 'top.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', '-b', '../base.raw', '-F', 'raw', top])
    const abs = join(dir, 'sub', 'abs.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', abs])
    for (const f of [top, abs]) {
      for (const args of [['map', '--output=json', f], ['info', '--backing-chain', f], ['compare', f, base], ['commit', f]]) {
        const refused = await qcow(args)
        expect(refused.code, args.join(' ')).not.toBe(0)
        expect(refused.stderr).toMatch(new RegExp(`^qcow: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: [^\\n]+\\n$`))
      }
      const m = { ours: await qcow(['map', '--allow-backing-path', '--output=json', f]), qemu: await qemuImg(['map', '--output=json', f]) }
      expect(m.ours.stdout).toBe(m.qemu.stdout)
      const c = await qcow(['compare', '--allow-backing-path', f, base])
      expect(c.code, c.stdout + c.stderr).toBe(0)
    }
    // A chain across directories: each relative name is taken from the directory of the image recording it.
    await mkdir(join(dir, 'sub', 'deeper'), { recursive: true })
    const deep = join(dir, 'sub', 'deeper', 'deep.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', '-b', '../top.qcow2', '-F', 'qcow2', deep])
    await qemuIoRaw(['-c', 'write -P 3 64k 64k', deep])
    for (const args of [['map', '--output=json'], ['map'], ['info', '--backing-chain', '--output=json'], ['info', '--backing-chain']]) {
      const o = await qcow([...args, '--allow-backing-path', deep])
      const q = await qemuImg([...args, deep])
      expect(o.code, o.stderr).toBe(0)
      if (args.includes('--output=json') && args[0] === 'info') expect(JSON.parse(o.stdout)).toEqual(JSON.parse(q.stdout))
      else expect(o.stdout).toBe(q.stdout)
    }
    const made = await qcow(['create', '-q', '-f', 'qcow2', '-b', '../base.raw', '-F', 'raw', join(dir, 'sub', 'new.qcow2')])
    expect(made.code).toBe(1)
    const allowed = await qcow(['create', '-q', '-f', 'qcow2', '--allow-backing-path', '-b', '../base.raw', '-F', 'raw', join(dir, 'sub', 'new.qcow2')])
    expect(allowed.code, allowed.stderr).toBe(0)
    const info = { ours: await qcow(['info', '--output=json', join(dir, 'sub', 'new.qcow2')]), qemu: await qemuImg(['info', '--output=json', join(dir, 'sub', 'new.qcow2')]) }
    expect(jsonOf(info.ours)).toEqual(jsonOf(info.qemu))
  })

  it('an image whose backing leads back to itself through a symbolic link is refused as a loop, with or without --allow-backing-path', async () => {
    const dir = tmp.file('loop')
    await mkdir(dir, { recursive: true })
    await symlink('.', join(dir, 'link'))
    const looped = join(dir, 'a.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', '-u', '-b', 'link/a.qcow2', '-F', 'qcow2', looped, '1M'])
    expect((await qemuImg(['map', '--output=json', looped])).code).not.toBe(0)
    for (const args of [['map', '--output=json'], ['map', '--allow-backing-path'], ['info', '--backing-chain'], ['info', '--backing-chain', '--allow-backing-path']]) {
      const r = await qcow([...args, looped])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toContain('the backing chain loops back to a file already in it')
    }
  })

  it('create -b naming the image itself is refused like qemu-img, leaving the file untouched', async () => {
    const dir = tmp.file('self')
    await mkdir(dir, { recursive: true })
    const self = join(dir, 's.qcow2')
    await qemuImg(['create', '-q', '-f', 'qcow2', self, '1M'])
    const before = await readFile(self)
    const same = ['create', '-f', 'qcow2', '-b', self, '-F', 'qcow2', self]
    const [ours, theirs] = [await qcow(same), await qemuImg(same)]
    expect([ours.code, ours.stderr.replace(/^qcow:/, 'qemu-img:')]).toEqual([theirs.code, theirs.stderr])
    expect(Buffer.compare(await readFile(self), before)).toBe(0)
    // qemu-img compares the names as strings; we compare real paths, so another spelling is refused too.
    const spelled = await qcow(['create', '-f', 'qcow2', '-u', '-b', './s.qcow2', '-F', 'qcow2', self, '1M'])
    expect([spelled.code, spelled.stderr]).toEqual([1, ours.stderr])
    expect(Buffer.compare(await readFile(self), before)).toBe(0)
  })
})
