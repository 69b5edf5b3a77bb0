// FileBlock: opening errors as typed values, partial last sectors, sizes, resize and zero writes on real files.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describeBlockError, type BlockError } from '../src/block/errors.js'
import { FileBlock } from '../src/file/index.js'
import { left, pattern, right, sameBytes, tempDir } from './helpers.js'

let dir: { readonly path: string; remove(): Promise<void> }
beforeEach(async () => {
  dir = await tempDir()
})
afterEach(async () => {
  await dir.remove()
})

/** Expects an `Io` error of the given kind whose sentence names the path. */
const expectIo = (error: unknown, kind: string, path: string): void => {
  expect(error).toMatchObject({ _tag: 'Io', kind, path })
  expect(describeBlockError(error as never)).toContain(path)
}

describe('FileBlock.connect errors', () => {
  it('a missing file is Io NotFound naming the path', async () => {
    const path = join(dir.path, 'missing.img')
    expectIo(left(await FileBlock.connect({ path })()), 'NotFound', path)
    expectIo(left(await FileBlock.connect({ path, readOnly: true })()), 'NotFound', path)
  })

  it('a directory is Io IsDirectory naming the path, read-write or read-only', async () => {
    expectIo(left(await FileBlock.connect({ path: dir.path })()), 'IsDirectory', dir.path)
    expectIo(left(await FileBlock.connect({ path: dir.path, readOnly: true })()), 'IsDirectory', dir.path)
  })

  it('a file the process may not open is Io PermissionDenied naming the path', async () => {
    const path = join(dir.path, 'secret.img')
    await writeFile(path, new Uint8Array(512))
    await chmod(path, 0o000)
    if (process.getuid?.() !== 0) {
      expectIo(left(await FileBlock.connect({ path })()), 'PermissionDenied', path)
      return
    }
    // Root ignores file modes: drop the effective user id to "nobody" around the open, then restore it.
    expect(typeof process.seteuid, 'running as root needs process.seteuid (forked test workers)').toBe('function')
    process.seteuid!(65534)
    let result
    try {
      result = await FileBlock.connect({ path })()
    } finally {
      process.seteuid!(0)
    }
    expectIo(left(result), 'PermissionDenied', path)
  })

  it('a bad configuration is Unsupported and names the field', async () => {
    const bad: unknown[] = [undefined, null, 42, {}, { path: 42 }, { path: 'x', readOnly: 'yes' }, { path: 'x', create: 1 }]
    for (const config of bad) {
      const error = left(await FileBlock.connect(config as never)())
      expect(error._tag).toBe('Unsupported')
    }
    expect(describeBlockError(left(await FileBlock.connect({ path: 'x', readOnly: 'yes' } as never)()))).toContain('readOnly')
    expect(left(await FileBlock.connect({ path: join(dir.path, 'n.img'), readOnly: true, create: true })())._tag).toBe('Unsupported')
  })

  it('a path with a NUL byte is an Io error, not a throw', async () => {
    expect(left(await FileBlock.connect({ path: `${dir.path}/a\0b` })())._tag).toBe('Io')
  })
})

describe('FileBlock geometry and data', () => {
  it('create makes an empty device; resize grows it with zeroes and shrinks it', async () => {
    const path = join(dir.path, 'new.img')
    const device = right(await FileBlock.connect({ path, create: true })())
    expect(right(await device.getInfo()())).toEqual({ readWrite: true, sectorSize: 512, sizeSectors: 0 })
    right(await device.resize(8)())
    expect((await stat(path)).size).toBe(8 * 512)
    right(await device.write(7, [pattern(512, 1)])())
    right(await device.resize(4)())
    right(await device.resize(8)())
    const back = new Uint8Array(4 * 512).fill(9)
    right(await device.read(4, [back])())
    expect(back.every((b) => b === 0)).toBe(true)
    right(await device.disconnect()())
  })

  it('a file whose length is not whole sectors reads its last sector padded with zeroes and reports the size rounded up', async () => {
    const path = join(dir.path, 'odd.img')
    const contents = pattern(1000, 3)
    await writeFile(path, contents)
    const device = right(await FileBlock.connect({ path })())
    expect(right(await device.getInfo()()).sizeSectors).toBe(2)
    const back = new Uint8Array(1024).fill(0xee)
    right(await device.read(0, [back.subarray(0, 512), back.subarray(512)])())
    expect(back.subarray(0, 1000)).toEqual(contents)
    expect(back.subarray(1000).every((b) => b === 0)).toBe(true)
    left(await device.read(2, [new Uint8Array(512)])())
    // Writing the last sector extends the file to whole sectors and keeps the bytes before it.
    const last = pattern(512, 4)
    right(await device.write(1, [last])())
    right(await device.flush()())
    const onDisk = await readFile(path)
    expect(onDisk.byteLength).toBe(1024)
    expect(new Uint8Array(onDisk.subarray(0, 512))).toEqual(contents.subarray(0, 512))
    expect(new Uint8Array(onDisk.subarray(512))).toEqual(last)
    right(await device.disconnect()())
  })

  it('writeZeroes zeroes exactly the range, across many chunks', async () => {
    const path = join(dir.path, 'z.img')
    const sectors = 2 * 32 * 1024 + 3 // 32 MiB and a bit: more than one zero-writing call
    await writeFile(path, new Uint8Array(sectors * 512).fill(0xab))
    const device = right(await FileBlock.connect({ path })())
    right(await device.writeZeroes(1, sectors - 2)())
    const onDisk = await readFile(path)
    expect(onDisk[511]).toBe(0xab)
    expect(onDisk[512]).toBe(0)
    expect(onDisk[(sectors - 1) * 512 - 1]).toBe(0)
    expect(onDisk[(sectors - 1) * 512]).toBe(0xab)
    expect(sameBytes(onDisk.subarray(512, (sectors - 1) * 512), new Uint8Array((sectors - 2) * 512))).toBe(true)
    right(await device.disconnect()())
  })

  it('requests with more buffers than one system call takes (IOV_MAX) still move every byte', async () => {
    const path = join(dir.path, 'many.img')
    const device = right(await FileBlock.connect({ path, create: true })())
    right(await device.resize(3000)())
    const data = pattern(2500 * 512, 8)
    const pieces = Array.from({ length: 2500 }, (_, i) => data.subarray(i * 512, (i + 1) * 512))
    right(await device.write(100, pieces)())
    const back = new Uint8Array(2500 * 512).fill(1)
    right(await device.read(100, Array.from({ length: 2500 }, (_, i) => back.subarray(i * 512, (i + 1) * 512)))())
    expect(sameBytes(back, data)).toBe(true)
    right(await device.disconnect()())
  })

  it('a read-only device refuses writes, zero writes and resizes and leaves the file alone', async () => {
    const path = join(dir.path, 'ro.img')
    const contents = pattern(2048, 5)
    await writeFile(path, contents)
    const device = right(await FileBlock.connect({ path, readOnly: true })())
    expect(right(await device.getInfo()()).readWrite).toBe(false)
    expect(left(await device.write(0, [new Uint8Array(512)])())._tag).toBe('ReadOnly')
    expect(left(await device.writeZeroes(0, 1)())._tag).toBe('ReadOnly')
    expect(left(await device.resize(1)())._tag).toBe('ReadOnly')
    right(await device.disconnect()())
    expect(new Uint8Array(await readFile(path))).toEqual(contents)
  })

  it('disconnect waits for requests in flight and later calls are Disconnected', async () => {
    const path = join(dir.path, 'd.img')
    await writeFile(path, new Uint8Array(64 * 512))
    const device = right(await FileBlock.connect({ path })())
    const writes = Array.from({ length: 16 }, (_, i) => device.write(i * 4, [pattern(4 * 512, i)])())
    const closing = device.disconnect()()
    const results = await Promise.all(writes)
    right(await closing)
    for (const r of results) right(r)
    for (const r of [await device.read(0, [new Uint8Array(512)])(), await device.flush()(), await device.getInfo()(), await device.disconnect()()]) {
      expect(left<BlockError, unknown>(r)._tag).toBe('Disconnected')
    }
    const onDisk = new Uint8Array(await readFile(path))
    for (let i = 0; i < 16; i++) expect(onDisk.subarray(i * 2048, (i + 1) * 2048)).toEqual(pattern(2048, i))
  })

  it('a shrink waits for writes in flight, so none lands past the new end', async () => {
    const path = join(dir.path, 's.img')
    await writeFile(path, new Uint8Array(64 * 512))
    const device = right(await FileBlock.connect({ path })())
    const writes = Array.from({ length: 16 }, (_, i) => device.write(32 + i * 2, [pattern(1024, i)])())
    right(await device.resize(32)())
    await Promise.all(writes)
    expect((await stat(path)).size).toBe(32 * 512)
    right(await device.disconnect()())
  })
})

describe('FileBlock over something that is not a regular file', () => {
  it('a character device is an Io error naming the path', async () => {
    expectIo(left(await FileBlock.connect({ path: '/dev/null', readOnly: true })()), 'Failure', '/dev/null')
  })
})
