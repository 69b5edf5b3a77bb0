// FileBlock under a failing disk: EIO from the system becomes an Io error naming the operation and the path.
import { describe, expect, it, vi } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describeBlockError } from '../src/block/errors.js'
import { FileBlock } from '../src/file/index.js'
import { SYNC_MAX_BYTES } from '../src/file/io.js'
import { left, right, tempDir } from './helpers.js'

const eio = (syscall: string): Error => Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: 'EIO', syscall })

// Reads and writes go through the descriptor, synchronously (small) or with callbacks (large): all fail with EIO.
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  const failLater = (syscall: string) => (...args: unknown[]) => {
    const callback = args[args.length - 1] as (error: Error) => void
    setImmediate(() => callback(eio(syscall)))
  }
  return {
    ...real,
    readvSync: () => {
      throw eio('read')
    },
    writevSync: () => {
      throw eio('write')
    },
    readv: failLater('read'),
    writev: failLater('write'),
  }
})

// Every handle the device opens fails its syncs and truncations with EIO, as a dying disk would.
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args)
      return Object.assign(Object.create(handle), {
        stat: () => handle.stat(),
        close: () => handle.close(),
        sync: () => Promise.reject(eio('fsync')),
        truncate: () => Promise.reject(eio('ftruncate')),
      })
    },
  }
})

describe('FileBlock on a disk that fails with EIO', () => {
  it('read and write (small requests, synchronous; large ones, on the thread pool), flush, writeZeroes and resize each return Io with the path', async () => {
    const dir = await tempDir()
    try {
      const path = join(dir.path, 'eio.img')
      const large = SYNC_MAX_BYTES + 512
      await writeFile(path, new Uint8Array(2 * large))
      const device = right(await FileBlock.connect({ path })())
      const results = [
        await device.read(0, [new Uint8Array(512)])(),
        await device.read(0, [new Uint8Array(large)])(),
        await device.write(0, [new Uint8Array(512)])(),
        await device.write(0, [new Uint8Array(large)])(),
        await device.flush()(),
        await device.writeZeroes(0, 1)(),
        await device.resize(16)(),
      ]
      for (const result of results) {
        const error = left(result)
        expect(error).toMatchObject({ _tag: 'Io', kind: 'Failure', code: 'EIO', path })
        expect(describeBlockError(error)).toContain(path)
        expect(describeBlockError(error)).toContain('i/o error')
      }
      right(await device.disconnect()())
    } finally {
      await dir.remove()
    }
  })
})
