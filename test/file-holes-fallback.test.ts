// Without the native addon (no compiler at install time), FileBlock reports every sector as data, and qcow map/convert of raw files work as before.
import { describe, expect, it, vi } from 'vitest'
import { FileBlock } from '../src/file/index.js'
import { left, right } from './helpers.js'
import { useTempDir } from './support/qemu.js'
import { qcow } from './cli/harness.js'
import { writeSparse } from './support/sparse-files.js'

vi.mock('../src/file/seek-addon.js', () => ({ seekAddon: () => undefined }))

describe('FileBlock without the native addon', () => {
  const dir = useTempDir('qcow-ts-holes-')

  it('reports every sector of a sparse file as mapped, still checking arguments', async () => {
    const path = dir.file('sparse.img')
    await writeSparse(path, 1024 * 1024, [{ offset: 700 * 1024, bytes: new Uint8Array([1]) }])
    const device = right(await FileBlock.connect({ path, readOnly: true })())
    for (const from of [0, 1, 1000, 2047]) {
      expect(right(await device.seekMapped(from)())).toBe(from)
      expect(right(await device.seekUnmapped(from)())).toBe(2048)
    }
    expect(left(await device.seekMapped(-1)())).toMatchObject({ _tag: 'OutOfRange' })
    right(await device.disconnect()())
  })

  it('qcow map shows a sparse raw file as one data extent, and convert copies it all the same', async () => {
    const path = dir.file('map.img')
    await writeSparse(path, 1024 * 1024, [{ offset: 4096, bytes: new Uint8Array([5]) }])
    const mapped = await qcow(['map', '--output=json', path])
    expect(mapped).toEqual({
      stdout: `[{ "start": 0, "length": 1048576, "depth": 0, "present": true, "zero": false, "data": true, "offset": 0}]\n`,
      stderr: '',
      code: 0,
    })
    const copy = dir.file('copy.img')
    expect(await qcow(['convert', '-O', 'raw', path, copy])).toEqual({ stdout: '', stderr: '', code: 0 })
    expect(await qcow(['compare', path, copy])).toMatchObject({ stdout: 'Images are identical.\n', code: 0 })
  })
})
