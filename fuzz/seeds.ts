// The seed corpus: small qcow2 images made by qemu-img/qemu-io with varied options (cluster sizes,
// refcount widths, v2/v3, compressed clusters in zlib and zstd, zero clusters, snapshots, lazy refcounts),
// plus a few made by this library so the fuzzer has seeds where QEMU is missing.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { isAbsolute, join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { makeQcow } from '../src/qcow/index.js'
import { RamDisk } from '../src/ramdisk/index.js'

/** A named seed image. */
export interface Seed {
  readonly name: string
  readonly image: Uint8Array
}

const QEMU_IMG = process.env.QEMU_IMG ?? 'qemu-img'
const QEMU_IO = process.env.QEMU_IO ?? 'qemu-io'

const exec = (file: string, args: ReadonlyArray<string>): Promise<boolean> =>
  new Promise((resolve) => {
    const child = execFile(file, [...args], (error) => resolve(error === null))
    child.stdin?.end()
  })

interface Recipe {
  readonly name: string
  readonly create: ReadonlyArray<string>
  /** qemu-io or qemu-img steps on the image, in order. */
  readonly steps: ReadonlyArray<{ readonly io?: ReadonlyArray<string>; readonly snapshot?: string }>
  /** Make the image by `qemu-img convert -c` from a raw file with data, with these creation options. */
  readonly compressed?: string
}

const writes = (...commands: string[]) => ({ io: commands })
const RECIPES: ReadonlyArray<Recipe> = [
  { name: 'c64k-r16-v3-zero', create: ['-o', 'cluster_size=65536', '4M'], steps: [writes('write -P 0x11 0 100k', 'write -P 0x22 2M 64k', 'write -z 3M 64k', 'write -z 1M 4k', 'discard 2M 64k', 'write -P 0x33 2M 4k')] },
  { name: 'c512-r1-v3', create: ['-o', 'cluster_size=512,refcount_bits=1', '1M'], steps: [writes('write -P 0x44 0 4k', 'write -P 0x45 300k 3k', 'write -z 600k 2k')] },
  { name: 'c4k-r64-v3-lazy', create: ['-o', 'cluster_size=4096,refcount_bits=64,lazy_refcounts=on', '4M'], steps: [writes('write -P 0x55 0 12k', 'write -P 0x56 3M 8k', 'write -z 8k 8k')] },
  { name: 'c4k-r16-v2-snap', create: ['-o', 'compat=0.10,cluster_size=4096', '4M'], steps: [writes('write -P 0x66 0 16k'), { snapshot: 's1' }, writes('write -P 0x67 4k 4k', 'write -P 0x68 2M 8k'), { snapshot: 'second' }, writes('write -P 0x69 8k 4k')] },
  { name: 'c4k-r16-v3-snap-zero', create: ['-o', 'cluster_size=4096', '4M'], steps: [writes('write -P 0x77 0 20k'), { snapshot: 'a' }, writes('write -z 4k 8k', 'write -P 0x78 1M 4k'), { snapshot: 'b' }, writes('write -P 0x79 0 4k')] },
  { name: 'c2k-r8-v3', create: ['-o', 'cluster_size=2048,refcount_bits=8', '2M'], steps: [writes('write -P 0x88 1k 6k', 'write -P 0x89 1500k 2k')] },
  { name: 'c4k-zlib', create: ['-o', 'cluster_size=4096', '2M'], steps: [], compressed: 'cluster_size=4096' },
  { name: 'c64k-zstd', create: ['-o', 'cluster_size=65536', '2M'], steps: [], compressed: 'cluster_size=65536,compression_type=zstd' },
  { name: 'c4k-zstd-snap', create: [], steps: [{ snapshot: 'z' }, writes('write -P 0x99 0 4k')], compressed: 'cluster_size=4096,compression_type=zstd' },
]

/** Raw data for the compressed seeds: compressible runs, incompressible noise and holes. */
const rawData = (): Uint8Array => {
  const out = new Uint8Array(2 * 1024 * 1024)
  let x = 12345
  for (let i = 0; i < 256 * 1024; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = i < 128 * 1024 ? (i >> 9) & 0xff : x >>> 24
  }
  out.fill(0x5a, 1024 * 1024, 1024 * 1024 + 64 * 1024)
  return out
}

const qemuSeeds = async (dir: string): Promise<Seed[]> => {
  if (!(await exec(QEMU_IMG, ['--version']))) return []
  const raw = join(dir, 'data.raw')
  await writeFile(raw, rawData())
  const seeds: Seed[] = []
  for (const r of RECIPES) {
    const file = join(dir, `${r.name}.qcow2`)
    const made = r.compressed !== undefined
      ? await exec(QEMU_IMG, ['convert', '-c', '-f', 'raw', '-O', 'qcow2', '-o', r.compressed, raw, file])
      : await exec(QEMU_IMG, ['create', '-q', '-f', 'qcow2', ...r.create.slice(0, -1), file, r.create[r.create.length - 1]])
    if (!made) continue
    let ok = true
    for (const step of r.steps) {
      if (step.io !== undefined) ok &&= await exec(QEMU_IO, ['-f', 'qcow2', ...step.io.flatMap((c) => ['-c', c]), file])
      if (step.snapshot !== undefined) ok &&= await exec(QEMU_IMG, ['snapshot', '-c', step.snapshot, file])
    }
    if (ok) seeds.push({ name: r.name, image: new Uint8Array(await readFile(file)) })
  }
  return seeds
}

/** Seeds made by this library (no QEMU needed): small clusters and odd refcount widths. */
const ownSeeds = async (): Promise<Seed[]> => {
  const Qcow = makeQcow(RamDisk)
  const configs = [
    { name: 'own-c4k-r2', size: 2 * 1024 * 1024, clusterSize: 4096, refcountBits: 2 },
    { name: 'own-c512-v2', size: 512 * 1024, clusterSize: 512, compat: '0.10' as const },
  ]
  const seeds: Seed[] = []
  for (const { name, ...options } of configs) {
    const base = await RamDisk.connect({ size: 1024 * 1024 })()
    if (E.isLeft(base)) continue
    const device = await Qcow.create(base.right, options)()
    if (E.isLeft(device)) continue
    const data = new Uint8Array(8192).map((_, i) => (i * 13 + 5) & 0xff)
    await device.right.write(0, [data])()
    await device.right.write(700, [data.subarray(0, 2048)])()
    await device.right.disconnect()()
    const out = new Uint8Array(1024 * 1024)
    await base.right.read(0, [out])()
    let end = out.length
    while (end > 0 && out[end - 1] === 0) end--
    seeds.push({ name, image: out.slice(0, Math.ceil(end / 4096) * 4096) })
  }
  return seeds
}

/** Makes every seed (QEMU's only when qemu-img is installed), in a temporary directory removed afterwards. */
export const makeSeeds = async (): Promise<Seed[]> => {
  const dir = await mkdtemp(join(tmpdir(), 'qcow-fuzz-seeds-'))
  try {
    return [...(await qemuSeeds(dir)), ...(await ownSeeds())]
  } finally {
    if (isAbsolute(dir) && dir.startsWith(join(tmpdir(), 'qcow-fuzz-seeds-'))) await rm(dir, { recursive: true, force: true })
  }
}
