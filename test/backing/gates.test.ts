// Implicit-open gates: hostile backing names each give a typed error and open nothing (checked with a spying gate).
import { mkdir, readFile, realpath, symlink, writeFile } from 'node:fs/promises'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { beforeAll, describe, expect, it } from 'vitest'
import type { BlockDevice } from '../../src/block/device.js'
import { confineTo, fileIdentity, openBackingFile } from '../../src/file/backing-gates.js'
import { FileBlock } from '../../src/file/index.js'
import { allowList, denyImplicitOpen, makeQcow, permissive, type BackingGate, type QcowError } from '../../src/qcow/index.js'
import type { RamDiskDevice } from '../../src/ramdisk/index.js'
import { Qcow, diskWith, pattern, ramDisk, run, runLeft } from '../qcow/support/harness.js'
import { useTempDir } from '../support/qemu.js'
import { QcowFile, forwarding, ok, readAll, sameBytes, spyGate } from './support.js'

const MiB = 1024 * 1024

/** Writes a new overlay file whose header names `backingFile` (nothing is opened to make it). */
const overlayNaming = async (path: string, backingFile: string, backingFormat?: string): Promise<void> => {
  const file = await ok(FileBlock.connect({ path, create: true }))
  const device = await ok(QcowFile.create(file, { size: MiB, backingFile, backing: null, ...(backingFormat === undefined ? {} : { backingFormat }) }))
  await ok(device.disconnect())
  await ok(file.disconnect())
}

/** Connects the overlay at `path` through `gate` (telling it `imageName` when given) and returns the error, failing when it opens. */
const refusal = async (path: string, gate: BackingGate, imageName?: string): Promise<QcowError> => {
  const file = await ok(FileBlock.connect({ path, readOnly: true }))
  try {
    const r = await QcowFile.connect(file, { gate, ...(imageName === undefined ? {} : { imageName }) })()
    if (r._tag === 'Right') throw new Error('the overlay opened')
    return r.left
  } finally {
    await ok(file.disconnect())
  }
}

describe('confineTo', () => {
  const tmp = useTempDir('qcow-ts-gates-')
  let jail = ''
  beforeAll(async () => {
    jail = tmp.file('jail')
    await mkdir(jail)
    await mkdir(`${jail}/sub`)
    await writeFile(tmp.file('secret.raw'), pattern(MiB, 9))
    await writeFile(`${jail}/disk.raw`, pattern(MiB, 10))
    await symlink('../secret.raw', `${jail}/link.raw`)
    await symlink('disk.raw', `${jail}/inner-link.raw`)
  })

  const hostile: ReadonlyArray<{ name: string; expected: Partial<QcowError> & { _tag: string } }> = [
    { name: '/etc/passwd', expected: { _tag: 'BackingRefused', rule: 'AbsolutePath' } },
    { name: '../secret.raw', expected: { _tag: 'BackingRefused', rule: 'ParentEscape' } },
    { name: 'sub/../../secret.raw', expected: { _tag: 'BackingRefused', rule: 'ParentEscape' } },
    { name: 'link.raw', expected: { _tag: 'BackingRefused', rule: 'OutsideDirectory' } },
    { name: 'json:{"file":{"driver":"file","filename":"/etc/passwd"}}', expected: { _tag: 'BackingRefused', rule: 'Protocol' } },
    { name: 'nbd://localhost:10809/export', expected: { _tag: 'BackingRefused', rule: 'Protocol' } },
    { name: 'nbd:localhost:10809', expected: { _tag: 'BackingRefused', rule: 'Protocol' } },
    { name: 'file:disk.raw', expected: { _tag: 'BackingRefused', rule: 'Protocol' } },
    { name: 'missing.raw', expected: { _tag: 'Io', kind: 'NotFound' } },
  ]
  hostile.forEach(({ name, expected }, i) => {
    it(`refuses ${JSON.stringify(name)} and opens nothing`, async () => {
      const path = `${jail}/hostile${i}.qcow2`
      await overlayNaming(path, name, 'raw')
      const { gate, log } = spyGate(confineTo(jail))
      const error = await refusal(path, gate)
      expect(error).toMatchObject(expected)
      if (error._tag === 'BackingRefused') expect(error.name).toBe(name)
      expect(log.admitted).toEqual([name])
      expect(log.opened).toEqual([])
    })
  })

  it('admits a relative name, and a symlink that stays inside the directory', async () => {
    for (const name of ['disk.raw', 'inner-link.raw', './disk.raw']) {
      const path = `${jail}/fine.qcow2`
      await overlayNaming(path, name, 'raw')
      const { gate, log } = spyGate(confineTo(jail))
      const file = await ok(FileBlock.connect({ path, readOnly: true }))
      const device = await ok(QcowFile.connect(file, { gate }))
      expect(sameBytes(await readAll(device), pattern(MiB, 10))).toBe(true)
      await ok(device.disconnect())
      await ok(file.disconnect())
      expect(log.opened).toEqual([await realpath(`${jail}/disk.raw`)])
      expect(log.closed).toEqual(log.opened)
    }
  })

  it('refuses an image naming itself (a loop), after opening only itself', async () => {
    const path = `${jail}/self.qcow2`
    await overlayNaming(path, 'self.qcow2', 'qcow2')
    const { gate, log } = spyGate(confineTo(jail))
    const error = await refusal(path, gate)
    expect(error).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: 'self.qcow2' })
    expect(log.opened).toEqual([await realpath(path)])
    expect(log.closed).toEqual(log.opened)
  })

  it('refuses an image naming itself by another spelling before opening anything, given its own name', async () => {
    const path = `${jail}/selfish.qcow2`
    await overlayNaming(path, './selfish.qcow2', 'qcow2')
    for (const imageName of ['selfish.qcow2', path]) {
      const { gate, log } = spyGate(confineTo(jail))
      const error = await refusal(path, gate, imageName)
      expect(error).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: './selfish.qcow2' })
      expect(log.admitted).toEqual(['./selfish.qcow2'])
      expect(log.opened).toEqual([])
    }
  })

  it('opens a backing without a format as raw unless the gate allows probing', async () => {
    const basePath = `${jail}/base.qcow2`
    const baseFile = await ok(FileBlock.connect({ path: basePath, create: true }))
    const base = await ok(QcowFile.create(baseFile, { size: MiB }))
    await ok(base.write(0, [pattern(4096, 11)]))
    await ok(base.disconnect())
    await ok(baseFile.disconnect())
    const path = `${jail}/unformatted.qcow2`
    await overlayNaming(path, 'base.qcow2')
    const read = async (gate: BackingGate): Promise<Uint8Array> => {
      const file = await ok(FileBlock.connect({ path, readOnly: true }))
      const device = await ok(QcowFile.connect(file, { gate }))
      const bytes = await readAll(device)
      await ok(device.disconnect())
      await ok(file.disconnect())
      return bytes
    }
    const raw = await read(confineTo(jail))
    expect(sameBytes(raw.subarray(0, 4096), new Uint8Array(await readFile(basePath)).subarray(0, 4096))).toBe(true)
    const probed = await read(confineTo(jail, undefined, { probe: true }))
    expect(sameBytes(probed.subarray(0, 4096), pattern(4096, 11))).toBe(true)
  })
})

describe('loops through other spellings of a file', () => {
  const tmp = useTempDir('qcow-ts-loops-')

  it('permissive with fileIdentity refuses a → b → ./a as a Loop, before opening a again when told its name', async () => {
    const dir = await realpath(tmp.path())
    await overlayNaming(`${dir}/a.qcow2`, `${dir}/b.qcow2`, 'qcow2')
    await overlayNaming(`${dir}/b.qcow2`, `${dir}/./sub/../a.qcow2`, 'qcow2')
    await mkdir(`${dir}/sub`, { recursive: true })
    const named = spyGate(permissive(openBackingFile, { identify: fileIdentity }))
    expect(await refusal(`${dir}/a.qcow2`, named.gate, `${dir}/a.qcow2`)).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: `${dir}/./sub/../a.qcow2` })
    expect(named.log.opened).toEqual([`${dir}/b.qcow2`])
    expect(named.log.closed).toEqual(named.log.opened)
    const unnamed = spyGate(permissive(openBackingFile, { identify: fileIdentity }))
    expect(await refusal(`${dir}/a.qcow2`, unnamed.gate)).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: `${dir}/b.qcow2` })
    expect(unnamed.log.opened).toEqual([`${dir}/b.qcow2`, `${dir}/a.qcow2`])
    expect([...unnamed.log.closed].sort()).toEqual([...unnamed.log.opened].sort())
  })

  it('a missing file named through permissive with fileIdentity is NotFound, and nothing is opened', async () => {
    const dir = await realpath(tmp.path())
    await overlayNaming(`${dir}/lost.qcow2`, `${dir}/nowhere.raw`, 'raw')
    const { gate, log } = spyGate(permissive(openBackingFile, { identify: fileIdentity }))
    expect(await refusal(`${dir}/lost.qcow2`, gate, `${dir}/lost.qcow2`)).toMatchObject({ _tag: 'Io', kind: 'NotFound' })
    expect(log.opened).toEqual([])
  })
})

/** A gate opener over named in-memory devices, for chains kept in memory. */
const memoryOpener =
  (files: ReadonlyMap<string, BlockDevice<QcowError>>) =>
  (name: string): TE.TaskEither<QcowError, BlockDevice<QcowError>> => {
    const device = files.get(name)
    if (device === undefined) return TE.left({ _tag: 'Io', kind: 'NotFound', operation: 'open', message: name, path: name })
    return TE.right(forwarding(device, () => TE.right(undefined)))
  }

describe('other gates and chain limits', () => {
  it('denyImplicitOpen refuses naming the file; allowList admits exactly its names', async () => {
    const files = new Map<string, BlockDevice<QcowError>>([['disk.img', await diskWith(pattern(MiB, 12))]])
    const make = async (name: string): Promise<RamDiskDevice> => {
      const disk = await ramDisk(0)
      await run((await run(Qcow.create(disk, { size: MiB, backingFile: name, backingFormat: 'raw', backing: null }))).disconnect())
      return disk
    }
    const denied = spyGate(denyImplicitOpen)
    expect(await runLeft(Qcow.connect(await make('disk.img'), { gate: denied.gate }))).toMatchObject({ _tag: 'BackingRefused', rule: 'ImplicitOpenDenied', name: 'disk.img' })
    expect(denied.log.opened).toEqual([])
    const listed = spyGate(allowList(['disk.img'], memoryOpener(files)))
    expect(await runLeft(Qcow.connect(await make('other.img'), { gate: listed.gate }))).toMatchObject({ _tag: 'BackingRefused', rule: 'NotAllowed', name: 'other.img' })
    expect(await runLeft(Qcow.connect(await make('./disk.img'), { gate: listed.gate }))).toMatchObject({ rule: 'NotAllowed' })
    expect(listed.log.opened).toEqual([])
    const device = await run(Qcow.connect(await make('disk.img'), { gate: listed.gate }))
    const bytes = new Uint8Array(MiB)
    await run(device.read(0, [bytes]))
    expect(sameBytes(bytes, pattern(MiB, 12))).toBe(true)
    expect(listed.log.opened).toEqual(['disk.img'])
  })

  it('a spied gate passes the seeks of what it opens through: the holes of a sparse raw backing stay unmapped', async () => {
    const base = await ramDisk(MiB)
    await run(base.write(0, [pattern(64 * 1024, 15)]))
    const disk = await ramDisk(0)
    await run((await run(Qcow.create(disk, { size: MiB, backingFile: 'disk.img', backingFormat: 'raw', backing: null }))).disconnect())
    const spied = spyGate(allowList(['disk.img'], memoryOpener(new Map([['disk.img', base]]))))
    const device = await run(Qcow.connect(disk, { gate: spied.gate }))
    expect(await run(device.seekMapped(0))).toBe(0)
    expect(await run(device.seekUnmapped(0))).toBe(128)
    expect(await run(device.seekMapped(128))).toBe(MiB / 512)
    expect((await run(device.map())).map(({ start, length, data }) => ({ start, length, data }))).toEqual([
      { start: 0, length: 64 * 1024, data: true },
      { start: 64 * 1024, length: MiB - 64 * 1024, data: false },
    ])
    await run(device.disconnect())
    expect(spied.log.opened).toEqual(['disk.img'])
  })

  it('create does not touch its base device until the backing is open and the options check out', async () => {
    const base = await ramDisk(0)
    const calls: string[] = []
    const watched: BlockDevice<QcowError> = {
      getInfo: () => (calls.push('getInfo'), base.getInfo()),
      read: (s, b) => (calls.push('read'), base.read(s, b)),
      write: (s, b) => (calls.push('write'), base.write(s, b)),
      flush: () => (calls.push('flush'), base.flush()),
      resize: (n) => (calls.push('resize'), base.resize(n)),
      disconnect: () => (calls.push('disconnect'), base.disconnect()),
    }
    const Watched = makeQcow({ name: 'Watched', connect: () => TE.right(watched) })
    const files = new Map<string, BlockDevice<QcowError>>([['disk.img', await diskWith(pattern(MiB, 16))]])
    const refused = [
      await runLeft(Watched.create(watched, { backingFile: 'disk.img', backingFormat: 'raw', gate: denyImplicitOpen })),
      await runLeft(Watched.create(watched, { backingFile: 'missing.img', backingFormat: 'raw', gate: permissive(memoryOpener(files)) })),
      await runLeft(Watched.create(watched, { size: MiB, clusterSize: 3000, backingFile: 'disk.img', backingFormat: 'raw', gate: permissive(memoryOpener(files)) })),
      await runLeft(Watched.create(watched, { size: MiB, clusterSize: 3000 })),
    ]
    expect(refused.map((e) => e._tag)).toEqual(['BackingRefused', 'Io', 'InvalidImage', 'InvalidImage'])
    expect(calls).toEqual([])
    const made = await run(Watched.create(watched, { backingFile: 'disk.img', backingFormat: 'raw', gate: permissive(memoryOpener(files)) }))
    expect(calls[0]).toBe('getInfo')
    expect((await run(made.getInfo())).sizeSectors).toBe(MiB / 512)
    await run(made.disconnect())
  })

  it('an explicit backing overrides the header: the gate is not even asked', async () => {
    const disk = await ramDisk(0)
    await run((await run(Qcow.create(disk, { size: MiB, backingFile: '/etc/shadow', backingFormat: 'raw', backing: null }))).disconnect())
    const spied = spyGate(permissive(memoryOpener(new Map())))
    const given = await diskWith(pattern(MiB, 14))
    const device = await run(Qcow.connect(disk, { gate: spied.gate, backing: given }))
    const bytes = new Uint8Array(MiB)
    await run(device.read(0, [bytes]))
    expect(sameBytes(bytes, pattern(MiB, 14))).toBe(true)
    await run(device.disconnect())
    expect(spied.log.admitted).toEqual([])
    expect((await run(given.getInfo())).sizeSectors).toBe(MiB / 512)
    const none = await run(Qcow.connect(disk, { gate: spied.gate, backing: null }))
    await run(none.read(0, [bytes]))
    expect(bytes.every((b) => b === 0)).toBe(true)
    expect(spied.log.admitted).toEqual([])
  })

  it('allowList with an identify refuses two spellings of one in-memory file as a Loop, before reopening the image when told its name', async () => {
    const disk = await ramDisk(0)
    await run((await run(Qcow.create(disk, { size: MiB, backingFile: './a', backingFormat: 'qcow2', backing: null }))).disconnect())
    const files = new Map<string, BlockDevice<QcowError>>([['a', disk], ['./a', disk]])
    const identify = (name: string) => TE.right(name.replace(/^(\.\/)+/, ''))
    const spied = spyGate(allowList(['a', './a'], memoryOpener(files), { identify }))
    expect(await runLeft(Qcow.connect(disk, { gate: spied.gate, imageName: 'a' }))).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: './a' })
    expect(spied.log.opened).toEqual([])
    const unnamed = spyGate(allowList(['a', './a'], memoryOpener(files), { identify }))
    expect(await runLeft(Qcow.connect(disk, { gate: unnamed.gate }))).toMatchObject({ _tag: 'BackingRefused', rule: 'Loop', name: './a' })
    expect(unnamed.log.opened).toEqual(['a'])
  })

  it('a 100-deep chain is refused past the depth limit, opening nothing beyond it and closing what it opened', async () => {
    const files = new Map<string, BlockDevice<QcowError>>([['l0', await diskWith(pattern(64 * 1024, 13))]])
    let top: RamDiskDevice | undefined
    for (let i = 1; i <= 100; i++) {
      const disk = await ramDisk(0)
      const device = await run(Qcow.create(disk, { size: 64 * 1024, clusterSize: 512, backingFile: `l${i - 1}`, backingFormat: i === 1 ? 'raw' : 'qcow2', backing: null }))
      await run(device.disconnect())
      files.set(`l${i}`, disk)
      top = disk
    }
    if (top === undefined) throw new Error('no chain')
    const limited = spyGate(permissive(memoryOpener(files)))
    const error = await runLeft(Qcow.connect(top, { gate: limited.gate }))
    expect(error).toMatchObject({ _tag: 'BackingRefused', rule: 'TooDeep', name: 'l67' })
    expect(limited.log.opened).toEqual(Array.from({ length: 32 }, (_, i) => `l${99 - i}`))
    expect([...limited.log.closed].sort()).toEqual([...limited.log.opened].sort())
    const deep = spyGate(permissive(memoryOpener(files)))
    const device = await run(Qcow.connect(top, { gate: deep.gate, maxBackingDepth: 100 }))
    const bytes = new Uint8Array(64 * 1024)
    await run(device.read(0, [bytes]))
    expect(sameBytes(bytes, pattern(64 * 1024, 13))).toBe(true)
    await run(device.disconnect())
    expect(deep.log.opened.length).toBe(100)
    expect(deep.log.closed.length).toBe(100)
  })

  it('bad backing options are refused with InvalidImage', async () => {
    const disk = await ramDisk(0)
    expect(await runLeft(Qcow.connect(disk, { gate: {} as BackingGate }))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.connect(disk, { maxBackingDepth: -1 }))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.connect(disk, { gate: { ...denyImplicitOpen, identify: 'x' } as unknown as BackingGate }))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.connect(disk, { imageName: 7 } as never))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.create(disk, { backingFile: 'x', backing: null }))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.create(disk, { size: MiB, backingFile: 'x'.repeat(1024), backing: null }))).toMatchObject({ _tag: 'InvalidImage' })
    expect(await runLeft(Qcow.create(disk, { size: MiB, backingFormat: 'raw' }))).toMatchObject({ _tag: 'InvalidImage' })
  })
})
