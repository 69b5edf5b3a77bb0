// commit, rebase, flatten and resize compared with qemu-img commit / rebase / resize on copies of the same chain.
import { copyFile, mkdir } from 'node:fs/promises'
import { expect, it } from 'vitest'
import { confineTo } from '../../src/file/backing-gates.js'
import { FileBlock } from '../../src/file/index.js'
import type { QcowDevice } from '../../src/qcow/index.js'
import { check, compare, describeWithQemu, info, map, qemuIoOk, toRawBytes, useTempDir, writeBytes } from '../support/qemu.js'
import { pattern } from '../qcow/support/harness.js'
import { QcowFile, firstDifference, ok, qemuImgOk, readAll } from './support.js'

const KiB = 1024
const MiB = 1024 * KiB

/** Makes the files of a chain in `dir`: a raw or qcow2 base (and another qcow2 image) and a qcow2 top over the base. */
const makeChain = async (dir: string, rawBase: boolean): Promise<void> => {
  await mkdir(dir)
  if (rawBase) await writeBytes(`${dir}/base.raw`, pattern(2 * MiB, 21))
  else {
    await qemuImgOk(['create', '-q', '-f', 'qcow2', `${dir}/base.qcow2`, String(4 * MiB)])
    await qemuIoOk(`${dir}/base.qcow2`, ['write -P 0x41 0 1m', 'write -P 0x42 2m 512k', 'write -P 0x43 3968k 128k'])
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', `${dir}/other.qcow2`, String(3 * MiB)])
    await qemuIoOk(`${dir}/other.qcow2`, ['write -P 0x41 0 512k', 'write -P 0x51 700k 900k', 'write -P 0x42 2m 100k'])
  }
  const base = rawBase ? ['-b', 'base.raw', '-F', 'raw'] : ['-b', 'base.qcow2', '-F', 'qcow2']
  await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', ...base, `${dir}/top.qcow2`, String(4 * MiB)])
  await qemuIoOk(`${dir}/top.qcow2`, ['write -P 0x61 100k 30k', 'write -z 512k 64k', 'discard 2100k 8k', 'write -P 0x62 3m 700k', 'write -P 0x63 1023k 2k'])
}

/** Copies the chain in `from` to a new directory `to`. */
const copyChain = async (from: string, to: string, names: ReadonlyArray<string>): Promise<void> => {
  await mkdir(to)
  for (const n of names) await copyFile(`${from}/${n}`, `${to}/${n}`)
}

/** Opens `dir/top.qcow2` read-write over an explicit, writable `dir/<base>` and runs `use`. */
const withChain = async (dir: string, baseName: string, use: (top: QcowDevice) => Promise<void>): Promise<void> => {
  const baseFile = await ok(FileBlock.connect({ path: `${dir}/${baseName}` }))
  const base = baseName.endsWith('.raw') ? baseFile : await ok(QcowFile.connect(baseFile))
  const topFile = await ok(FileBlock.connect({ path: `${dir}/top.qcow2` }))
  const top = await ok(QcowFile.connect(topFile, { backing: base }))
  await use(top)
  await ok(top.disconnect())
  await ok(topFile.disconnect())
  if (base !== baseFile) await ok(base.disconnect())
  await ok(baseFile.disconnect())
}

const expectIdentical = async (a: string, b: string, formatA = 'qcow2', formatB = 'qcow2'): Promise<void> => {
  const r = await compare(a, b, { formatA, formatB })
  expect(r.code, `${a} vs ${b}: ${r.stdout}${r.stderr}`).toBe(0)
}

const expectClean = async (path: string): Promise<void> => {
  const r = await check(path)
  expect(r.code, `${path}: ${r.stdout}${r.stderr}`).toBe(0)
}

describeWithQemu('chain operations match qemu-img', () => {
  const tmp = useTempDir('qcow-ts-chainops-')

  for (const rawBase of [false, true]) {
    it(`commit into a ${rawBase ? 'shorter raw' : 'qcow2'} backing matches qemu-img commit`, async () => {
      const origin = tmp.file(`commit-${rawBase}`)
      await makeChain(origin, rawBase)
      const baseName = rawBase ? 'base.raw' : 'base.qcow2'
      const before = await toRawBytes(`${origin}/top.qcow2`)
      await copyChain(origin, `${origin}-q`, [baseName, 'top.qcow2'])
      await copyChain(origin, `${origin}-u`, [baseName, 'top.qcow2'])
      await qemuImgOk(['commit', '-q', '-f', 'qcow2', `${origin}-q/top.qcow2`])
      await withChain(`${origin}-u`, baseName, (top) => ok(top.commit()))
      const baseFormat = rawBase ? 'raw' : 'qcow2'
      await expectIdentical(`${origin}-q/${baseName}`, `${origin}-u/${baseName}`, baseFormat, baseFormat)
      expect(firstDifference(await toRawBytes(`${origin}-u/${baseName}`, baseFormat), before)).toBe(-1)
      await expectIdentical(`${origin}-q/top.qcow2`, `${origin}-u/top.qcow2`)
      await expectClean(`${origin}-u/top.qcow2`)
      if (!rawBase) await expectClean(`${origin}-u/base.qcow2`)
      const topMap = await map(`${origin}-u/top.qcow2`)
      expect(topMap.filter((e) => e.depth === 0 && e.present)).toEqual([])
    })
  }

  it('commit through the gate in a three-layer chain reopens the middle layer writable and matches qemu-img commit', async () => {
    const origin = tmp.file('commit-gate')
    await mkdir(origin)
    await writeBytes(`${origin}/base.raw`, pattern(2 * MiB, 31))
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', `${origin}/mid.qcow2`, String(3 * MiB)])
    await qemuIoOk(`${origin}/mid.qcow2`, ['write -P 0x71 64k 200k', 'write -P 0x72 2500k 100k'])
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', '-b', 'mid.qcow2', '-F', 'qcow2', `${origin}/top.qcow2`])
    await qemuIoOk(`${origin}/top.qcow2`, ['write -P 0x73 100k 300k', 'write -z 1m 64k', 'write -P 0x74 2900k 7k'])
    const before = await toRawBytes(`${origin}/top.qcow2`)
    const names = ['base.raw', 'mid.qcow2', 'top.qcow2']
    await copyChain(origin, `${origin}-q`, names)
    await copyChain(origin, `${origin}-u`, names)
    await qemuImgOk(['commit', '-q', '-f', 'qcow2', `${origin}-q/top.qcow2`])
    const topFile = await ok(FileBlock.connect({ path: `${origin}-u/top.qcow2` }))
    const top = await ok(QcowFile.connect(topFile, { gate: confineTo(`${origin}-u`) }))
    await ok(top.commit())
    expect(firstDifference(await readAll(top), before)).toBe(-1)
    await ok(top.disconnect())
    await ok(topFile.disconnect())
    await expectIdentical(`${origin}-q/mid.qcow2`, `${origin}-u/mid.qcow2`)
    await expectIdentical(`${origin}-q/top.qcow2`, `${origin}-u/top.qcow2`)
    await expectIdentical(`${origin}-q/base.raw`, `${origin}-u/base.raw`, 'raw', 'raw')
    await expectClean(`${origin}-u/mid.qcow2`)
    await expectClean(`${origin}-u/top.qcow2`)
  })

  it('safe rebase matches qemu-img rebase: same guest content over the new backing', async () => {
    const origin = tmp.file('rebase')
    await makeChain(origin, false)
    const before = await toRawBytes(`${origin}/top.qcow2`)
    const names = ['base.qcow2', 'other.qcow2', 'top.qcow2']
    await copyChain(origin, `${origin}-q`, names)
    await copyChain(origin, `${origin}-u`, names)
    await qemuImgOk(['rebase', '-q', '-f', 'qcow2', '-b', 'other.qcow2', '-F', 'qcow2', `${origin}-q/top.qcow2`])
    await withChain(`${origin}-u`, 'base.qcow2', async (top) => {
      const otherFile = await ok(FileBlock.connect({ path: `${origin}-u/other.qcow2`, readOnly: true }))
      const other = await ok(QcowFile.connect(otherFile))
      await ok(top.rebase(other, { backingFile: 'other.qcow2', backingFormat: 'qcow2' }))
      const header = await ok(top.header())
      expect([header.backingFile, header.backingFormat]).toEqual(['other.qcow2', 'qcow2'])
      expect((await ok(top.backingChain())).map((l) => [l.name, l.format])).toEqual([['other.qcow2', 'qcow2']])
      await ok(top.flush())
      await ok(other.disconnect())
      await ok(otherFile.disconnect())
    })
    const topFile = await ok(FileBlock.connect({ path: `${origin}-u/top.qcow2`, readOnly: true }))
    const reopened = await ok(QcowFile.connect(topFile, { gate: confineTo(`${origin}-u`) }))
    expect((await ok(reopened.backingChain())).map((l) => [l.name, l.format])).toEqual([['other.qcow2', 'qcow2']])
    await ok(reopened.disconnect())
    await ok(topFile.disconnect())
    expect(firstDifference(await toRawBytes(`${origin}-u/top.qcow2`), before)).toBe(-1)
    await expectIdentical(`${origin}-q/top.qcow2`, `${origin}-u/top.qcow2`)
    await expectClean(`${origin}-u/top.qcow2`)
    const ours = await map(`${origin}-u/top.qcow2`)
    const theirs = await map(`${origin}-q/top.qcow2`)
    const allocated = (m: typeof ours): number => m.filter((e) => e.depth === 0 && e.data).reduce((n, e) => n + e.length, 0)
    expect(allocated(ours)).toBeLessThanOrEqual(allocated(theirs) + 64 * KiB)
  })

  it('unsafe rebase and flatten match qemu-img rebase -u and rebase -b ""', async () => {
    const origin = tmp.file('unsafe')
    await makeChain(origin, false)
    const before = await toRawBytes(`${origin}/top.qcow2`)
    const names = ['base.qcow2', 'other.qcow2', 'top.qcow2']
    await copyChain(origin, `${origin}-q`, names)
    await copyChain(origin, `${origin}-u`, names)
    await qemuImgOk(['rebase', '-q', '-u', '-f', 'qcow2', '-b', 'other.qcow2', '-F', 'qcow2', `${origin}-q/top.qcow2`])
    const otherFile = await ok(FileBlock.connect({ path: `${origin}-u/other.qcow2`, readOnly: true }))
    const other = await ok(QcowFile.connect(otherFile))
    const topFile = await ok(FileBlock.connect({ path: `${origin}-u/top.qcow2` }))
    const top = await ok(QcowFile.connect(topFile, { backing: null }))
    await ok(top.rebase(other, { unsafe: true, backingFile: 'other.qcow2', backingFormat: 'qcow2' }))
    await ok(top.disconnect())
    await expectIdentical(`${origin}-q/top.qcow2`, `${origin}-u/top.qcow2`)
    expect((await info(`${origin}-u/top.qcow2`))['backing-filename']).toBe('other.qcow2')
    // flatten (ours) vs rebase -b '' (QEMU), both starting from the original chain.
    await copyChain(origin, `${origin}-fq`, names)
    await copyChain(origin, `${origin}-fu`, names)
    await qemuImgOk(['rebase', '-q', '-f', 'qcow2', '-b', '', `${origin}-fq/top.qcow2`])
    const flatFile = await ok(FileBlock.connect({ path: `${origin}-fu/top.qcow2` }))
    const flat = await ok(QcowFile.connect(flatFile, { gate: confineTo(`${origin}-fu`) }))
    await ok(flat.flatten())
    expect(await ok(flat.backingChain())).toEqual([])
    await ok(flat.disconnect())
    await ok(flatFile.disconnect())
    await ok(other.disconnect())
    await ok(otherFile.disconnect())
    await ok(topFile.disconnect())
    const flatInfo = await info(`${origin}-fu/top.qcow2`)
    expect(flatInfo['backing-filename']).toBeUndefined()
    expect(firstDifference(await toRawBytes(`${origin}-fu/top.qcow2`), before)).toBe(-1)
    await expectIdentical(`${origin}-fq/top.qcow2`, `${origin}-fu/top.qcow2`)
    await expectClean(`${origin}-fu/top.qcow2`)
  })

  it('growing an overlay over a longer backing hides the backing in the new space, as qemu-img resize does', async () => {
    const origin = tmp.file('resize')
    await mkdir(origin)
    await writeBytes(`${origin}/base.raw`, pattern(4 * MiB, 31))
    await qemuImgOk(['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=65536', '-b', 'base.raw', '-F', 'raw', `${origin}/top.qcow2`, String(MiB)])
    await qemuIoOk(`${origin}/top.qcow2`, ['write -P 0x71 100k 30k'])
    await copyChain(origin, `${origin}-q`, ['base.raw', 'top.qcow2'])
    await copyChain(origin, `${origin}-u`, ['base.raw', 'top.qcow2'])
    await qemuImgOk(['resize', '-q', '--shrink', '-f', 'qcow2', `${origin}-q/top.qcow2`, String(700 * KiB + 512)])
    await qemuImgOk(['resize', '-q', '-f', 'qcow2', `${origin}-q/top.qcow2`, String(3 * MiB)])
    await withChain(`${origin}-u`, 'base.raw', async (top) => {
      await ok(top.resize(700 * KiB + 512, { allowShrink: true }))
      await ok(top.resize(3 * MiB, {}))
    })
    await expectIdentical(`${origin}-q/top.qcow2`, `${origin}-u/top.qcow2`)
    const withoutOffsets = (entries: ReadonlyArray<{ readonly offset?: number }>) => entries.map(({ offset: _offset, ...rest }) => rest)
    expect(withoutOffsets(await map(`${origin}-u/top.qcow2`))).toEqual(withoutOffsets(await map(`${origin}-q/top.qcow2`)))
    await expectClean(`${origin}-u/top.qcow2`)
  })
})
