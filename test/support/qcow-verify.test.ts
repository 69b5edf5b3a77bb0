// The test-side qcow2 verifier agrees with qemu-img check: clean on QEMU's images, and catches damage and leaks.
import { expect, it } from 'vitest'
import { readFile } from 'node:fs/promises'
import { check, createImage, describeWithQemu, qemuIoOk, useTempDir, writeBytes } from './qemu.js'
import { verifyQcow } from './qcow-verify.js'

const u64At = (bytes: Uint8Array, offset: number): number => {
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  return view.getUint32(offset) * 4294967296 + view.getUint32(offset + 4)
}
const setU64 = (bytes: Uint8Array, offset: number, value: number): void => {
  const view = new DataView(bytes.buffer, bytes.byteOffset)
  view.setUint32(offset, Math.floor(value / 4294967296))
  view.setUint32(offset + 4, value >>> 0)
}

describeWithQemu('qcow2 verifier (test support)', () => {
  const tmp = useTempDir('qcow-verify-')
  const matrix = [
    { clusterSize: 512, refcountBits: 1 },
    { clusterSize: 4096, refcountBits: 16 },
    { clusterSize: 65536, refcountBits: 64 },
    { clusterSize: 65536, refcountBits: 16, compat: '0.10' as const },
  ]

  const makeImage = async (name: string, options: (typeof matrix)[number]): Promise<Uint8Array> => {
    const path = tmp.file(name)
    await createImage(path, { size: 8 * 1024 * 1024, ...options })
    await qemuIoOk(path, ['write -P 0x5a 0 70k', 'write -P 0x11 3m 9k', 'write -P 0x22 7m 1m'])
    return new Uint8Array(await readFile(path))
  }

  it('finds no corruption and no leak in images QEMU wrote', async () => {
    for (const [i, options] of matrix.entries()) {
      const v = verifyQcow(await makeImage(`clean-${i}.qcow2`, options))
      expect(v.corruptions, JSON.stringify(options)).toEqual([])
      expect(v.leaks).toBe(0)
      expect(v.referencedClusters).toBeGreaterThan(4)
    }
  })

  it('reports what qemu-img check reports on damaged images', async () => {
    const bytes = await makeImage('base.qcow2', { clusterSize: 65536, refcountBits: 16 })
    const l1 = u64At(bytes, 40)
    const rt = u64At(bytes, 48)
    const firstBlock = u64At(bytes, rt)
    const cases: Array<[string, (b: Uint8Array) => void, 'corrupt' | 'leak']> = [
      ['refcount of the L1 table zeroed', (b) => b.fill(0, firstBlock + (l1 / 65536) * 2, firstBlock + (l1 / 65536) * 2 + 2), 'corrupt'],
      ['L2 entry pointed at the refcount table', (b) => {
        const l2 = u64At(b, l1) % 2 ** 55
        setU64(b, l2, 0x8000000000000000 + rt)
      }, 'corrupt'],
      ['L1 entry unaligned', (b) => new DataView(b.buffer).setUint32(l1 + 4, new DataView(b.buffer).getUint32(l1 + 4) + 512), 'corrupt'],
      ['an unreferenced cluster counted', (b) => new DataView(b.buffer).setUint16(firstBlock + 2 * (bytes.length / 65536 + 2), 1), 'leak'],
    ]
    for (const [name, damage, kind] of cases) {
      const damaged = bytes.slice()
      damage(damaged)
      if (kind === 'leak') {
        const grown = new Uint8Array(damaged.length + 3 * 65536)
        grown.set(damaged)
        const v = verifyQcow(grown)
        expect(v.corruptions, name).toEqual([])
        expect(v.leaks, name).toBe(1)
        await writeBytes(tmp.file('leak.qcow2'), grown)
        expect((await check(tmp.file('leak.qcow2'))).report?.leaks, name).toBe(1)
        continue
      }
      const v = verifyQcow(damaged)
      expect(v.corruptions.length, name).toBeGreaterThan(0)
      await writeBytes(tmp.file('damaged.qcow2'), damaged)
      const q = await check(tmp.file('damaged.qcow2'))
      expect(q.code === 1 || q.code === 2 || (q.report?.corruptions ?? 0) > 0, `${name}: qemu-img check agrees`).toBe(true)
    }
  })
})
