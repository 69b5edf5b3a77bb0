// Test-only wrappers around qemu-img and qemu-io (the QEMU 7.2 oracle), their JSON codecs and a CI-aware gate.
import { execFile, execFileSync } from 'node:child_process'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import { PathReporter } from 'io-ts/lib/PathReporter.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlockDevice } from '../../src/block/device.js'
import { RamDisk, type RamDiskDevice } from '../../src/ramdisk/index.js'

/** The qemu-img binary (override with `QEMU_IMG`). */
export const QEMU_IMG = process.env.QEMU_IMG ?? 'qemu-img'
/** The qemu-io binary (override with `QEMU_IO`). */
export const QEMU_IO = process.env.QEMU_IO ?? 'qemu-io'

/** What a finished child process left: its output and exit code (never thrown). */
export interface ProcResult {
  readonly stdout: string
  readonly stderr: string
  /** The exit code; -1 when the process could not start or died from a signal. */
  readonly code: number
}

/**
 * Runs `file` with `args` (no shell, stdin closed so an interactive tool ends at once) and resolves
 * with its output and exit code; never rejects.
 */
export const run = (file: string, args: ReadonlyArray<string>): Promise<ProcResult> =>
  new Promise((resolve) => {
    const child = execFile(file, [...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1
      const startFailure = error !== null && typeof error.code !== 'number' ? `${error.message}\n` : ''
      resolve({ stdout, stderr: startFailure + stderr, code })
    })
    child.stdin?.on('error', () => undefined)
    child.stdin?.end()
  })

/** Runs qemu-img with `args`. */
export const qemuImg = (args: ReadonlyArray<string>): Promise<ProcResult> => run(QEMU_IMG, args)
/** Runs qemu-io with `args`. */
export const qemuIoRaw = (args: ReadonlyArray<string>): Promise<ProcResult> => run(QEMU_IO, args)

const describeRun = (what: string, r: ProcResult): string =>
  `${what} exited with ${r.code}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`

/** Resolves with the result when the exit code is 0; rejects (failing the test) with the output otherwise. */
const expectSuccess = async (what: string, result: Promise<ProcResult>): Promise<ProcResult> => {
  const r = await result
  if (r.code !== 0) throw new Error(describeRun(what, r))
  return r
}

/** Decodes `value` with `codec`, or throws (failing the test) with io-ts's report. */
export const decodeOrThrow = <A>(codec: t.Decoder<unknown, A>, value: unknown, what: string): A => {
  const decoded = codec.decode(value)
  if (E.isLeft(decoded)) throw new Error(`${what}: unexpected JSON: ${PathReporter.report(decoded).join('; ')}`)
  return decoded.right
}

const parseJson = (text: string, what: string): unknown => {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new Error(`${what}: output is not JSON: ${String(cause)}\n${text}`)
  }
}

// ---- JSON codecs ----

/** `format-specific.data` of a qcow2 image in `qemu-img info --output=json`. */
export const Qcow2SpecificCodec = t.intersection([
  t.type({ compat: t.string, 'refcount-bits': t.number }),
  t.partial({
    'compression-type': t.string,
    'lazy-refcounts': t.boolean,
    corrupt: t.boolean,
    'extended-l2': t.boolean,
    'data-file': t.string,
    'data-file-raw': t.boolean,
  }),
])

/** `qemu-img info --output=json` of one image. */
export const QemuInfoCodec = t.intersection([
  t.type({ 'virtual-size': t.number, filename: t.string, format: t.string }),
  t.partial({
    'actual-size': t.number,
    'cluster-size': t.number,
    'dirty-flag': t.boolean,
    'backing-filename': t.string,
    'full-backing-filename': t.string,
    'backing-filename-format': t.string,
    'format-specific': t.type({ type: t.string, data: t.unknown }),
  }),
])
/** Decoded `qemu-img info` output. */
export type QemuInfo = t.TypeOf<typeof QemuInfoCodec>

/**
 * `qemu-img check --output=json`: the counters QEMU omits when zero are optional (QEMU 7.2 also omits
 * `allocated-clusters` when no data cluster is allocated, and `total-clusters` for a 0-byte disk).
 */
export const QemuCheckCodec = t.intersection([
  t.type({ filename: t.string, format: t.string, 'check-errors': t.number }),
  t.partial({
    'total-clusters': t.number,
    'allocated-clusters': t.number,
    'image-end-offset': t.number,
    corruptions: t.number,
    leaks: t.number,
    'corruptions-fixed': t.number,
    'leaks-fixed': t.number,
    'fragmented-clusters': t.number,
    'compressed-clusters': t.number,
  }),
])
/** Decoded `qemu-img check` report. */
export type QemuCheck = t.TypeOf<typeof QemuCheckCodec>

/** One entry of `qemu-img map --output=json`. */
export const QemuMapEntryCodec = t.intersection([
  t.type({ start: t.number, length: t.number, depth: t.number, zero: t.boolean, data: t.boolean }),
  t.partial({ present: t.boolean, offset: t.number }),
])
/** Decoded `qemu-img map` output. */
export const QemuMapCodec = t.array(QemuMapEntryCodec)
/** One decoded `qemu-img map` entry. */
export type QemuMapEntry = t.TypeOf<typeof QemuMapEntryCodec>

// ---- the CI-aware gate ----

/** Whether the QEMU tools can be used, and why not. */
export type QemuAvailability = { readonly available: true; readonly version: string } | { readonly available: false; readonly reason: string }

let availability: QemuAvailability | undefined

/** Probes `qemu-img --version` and `qemu-io --version` once per process. */
export const qemuAvailability = (): QemuAvailability => {
  if (availability !== undefined) return availability
  try {
    const version = execFileSync(QEMU_IMG, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    execFileSync(QEMU_IO, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    availability = { available: true, version: version.split('\n')[0] ?? version }
  } catch (cause) {
    availability = { available: false, reason: cause instanceof Error ? cause.message : String(cause) }
  }
  return availability
}

/** True when running in CI (`CI=true`), where missing QEMU tools are a failure, not a skip. */
export const inCi = (): boolean => process.env.CI === 'true'

const missingMessage = (reason: string): string =>
  `qemu-img/qemu-io not available (${reason}); install qemu-utils (QEMU 7.2) to run the interop tests`

/**
 * The gate for interop tests: `true` when QEMU is available; `false` (after a warning) on a user's
 * machine without it; throws in CI (`CI=true`) without it, so the suite fails instead of skipping.
 */
export const requireQemu = (): boolean => {
  const a = qemuAvailability()
  if (a.available) return true
  if (inCi()) throw new Error(`${missingMessage(a.reason)} — required in CI`)
  console.warn(`SKIPPING interop tests: ${missingMessage(a.reason)}`)
  return false
}

/**
 * What a suite needs from the machine: `short` names it in a few words (for the CI test's and the
 * skipped suite's names); when it is not there, `missing` says what is missing and how to get it.
 */
export type Requirement = { readonly short: string } & ({ readonly available: true } | { readonly available: false; readonly missing: string })

/**
 * `describe` that runs when the requirement is met, is skipped with a clear message on a user's
 * machine without it, and fails with one test saying why in CI (`CI=true`) without it.
 */
export const describeRequiring = (name: string, requirement: Requirement, body: () => void): void => {
  if (requirement.available) describe(name, body)
  else if (inCi()) {
    describe(name, () => {
      it(`needs ${requirement.short} in CI`, () => {
        throw new Error(`${requirement.missing} — required in CI`)
      })
    })
  } else {
    console.warn(`SKIPPING '${name}': ${requirement.missing}`)
    describe.skip(`${name} (skipped: ${requirement.short} missing)`, body)
  }
}

/** `describeRequiring` qemu-img and qemu-io. */
export const describeWithQemu = (name: string, body: () => void): void => {
  const a = qemuAvailability()
  const short = 'qemu-img and qemu-io'
  describeRequiring(name, a.available ? { short, available: true } : { short, available: false, missing: missingMessage(a.reason) }, body)
}

// ---- temp dirs ----

/** A temporary directory and a way to name files in it. */
export interface TempDir {
  readonly path: string
  file(name: string): string
  remove(): Promise<void>
}

/** Creates a fresh temporary directory. */
export const makeTempDir = async (prefix = 'qcow-ts-'): Promise<TempDir> => {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, file: (name) => join(path, name), remove: () => rm(path, { recursive: true, force: true }) }
}

/**
 * Registers `beforeAll`/`afterAll` hooks in the current describe block giving a temp dir removed after
 * the block; call `file(name)` only inside tests or hooks.
 */
export const useTempDir = (prefix?: string): { file(name: string): string; path(): string } => {
  let dir: TempDir | undefined
  beforeAll(async () => {
    dir = await makeTempDir(prefix)
  })
  afterAll(async () => {
    await dir?.remove()
  })
  const current = (): TempDir => {
    if (dir === undefined) throw new Error('useTempDir: used outside a test or hook')
    return dir
  }
  return { file: (name) => current().file(name), path: () => current().path }
}

// ---- qemu-img / qemu-io helpers ----

/** Options of `createImage`, mapped to `qemu-img create -o`. */
export interface ImageOptions {
  readonly size: number
  readonly clusterSize?: number
  readonly compat?: '0.10' | '1.1'
  readonly refcountBits?: number
  readonly lazyRefcounts?: boolean
  readonly compressionType?: 'zlib' | 'zstd'
  /** Further `-o` options, e.g. `extended_l2=on`. */
  readonly extra?: ReadonlyArray<string>
}

/** The `-o` list for `options` (without size). */
export const qcow2OptionList = (options: Omit<ImageOptions, 'size'>): string[] => [
  ...(options.clusterSize === undefined ? [] : [`cluster_size=${options.clusterSize}`]),
  ...(options.compat === undefined ? [] : [`compat=${options.compat}`]),
  ...(options.refcountBits === undefined ? [] : [`refcount_bits=${options.refcountBits}`]),
  ...(options.lazyRefcounts === undefined ? [] : [`lazy_refcounts=${options.lazyRefcounts ? 'on' : 'off'}`]),
  ...(options.compressionType === undefined ? [] : [`compression_type=${options.compressionType}`]),
  ...(options.extra ?? []),
]

const dashO = (list: ReadonlyArray<string>): string[] => (list.length === 0 ? [] : ['-o', list.join(',')])

/** `qemu-img create -f qcow2`; rejects (failing the test) on a non-zero exit. */
export const createImage = async (path: string, options: ImageOptions): Promise<void> => {
  await expectSuccess('qemu-img create', qemuImg(['create', '-q', '-f', 'qcow2', ...dashO(qcow2OptionList(options)), path, String(options.size)]))
}

/** Runs qemu-io with each command as one `-c`, in order; the exit code is data. */
export const qemuIo = (path: string, commands: ReadonlyArray<string>, options: { readOnly?: boolean; format?: string } = {}): Promise<ProcResult> =>
  qemuIoRaw([...(options.readOnly === true ? ['-r'] : []), '-f', options.format ?? 'qcow2', ...commands.flatMap((c) => ['-c', c]), path])

/** Like `qemuIo`, but rejects (failing the test) when qemu-io exits non-zero or reports a failure. */
export const qemuIoOk = async (path: string, commands: ReadonlyArray<string>, options: { readOnly?: boolean; format?: string } = {}): Promise<ProcResult> => {
  const r = await qemuIo(path, commands, options)
  if (r.code !== 0 || /failed|error/i.test(r.stdout + r.stderr)) throw new Error(describeRun(`qemu-io ${commands.join(' ; ')}`, r))
  return r
}

/** Options of `convert`. */
export interface ConvertOptions {
  readonly sourceFormat?: string
  readonly targetFormat?: string
  /** `-c`: compress every cluster QEMU can. */
  readonly compress?: boolean
  /** qcow2 target options (cluster size, compression type...). */
  readonly target?: Omit<ImageOptions, 'size'>
  /** Convert this internal snapshot (by name) instead of the current state. */
  readonly snapshot?: string
}

/** `qemu-img convert`; rejects (failing the test) on a non-zero exit. */
export const convert = async (source: string, target: string, options: ConvertOptions = {}): Promise<void> => {
  const targetFormat = options.targetFormat ?? 'qcow2'
  await expectSuccess(
    'qemu-img convert',
    qemuImg([
      'convert',
      '-f',
      options.sourceFormat ?? 'qcow2',
      '-O',
      targetFormat,
      ...(options.compress === true ? ['-c'] : []),
      ...(options.snapshot === undefined ? [] : ['-l', `snapshot.name=${options.snapshot}`]),
      ...dashO(options.target === undefined ? [] : qcow2OptionList(options.target)),
      source,
      target,
    ]),
  )
}

/** The guest-visible bytes of an image (or of one of its internal snapshots): `qemu-img convert -O raw` read back. */
export const toRawBytes = async (path: string, sourceFormat = 'qcow2', snapshot?: string): Promise<Uint8Array> => {
  const dir = await makeTempDir('qcow-ts-raw-')
  try {
    const raw = dir.file('image.raw')
    await convert(path, raw, { sourceFormat, targetFormat: 'raw', ...(snapshot === undefined ? {} : { snapshot }) })
    return new Uint8Array(await readFile(raw))
  } finally {
    await dir.remove()
  }
}

/** `qemu-img snapshot -c name`: creates an internal snapshot; rejects (failing the test) on failure. */
export const createSnapshot = async (path: string, name: string): Promise<void> => {
  await expectSuccess('qemu-img snapshot -c', qemuImg(['snapshot', '-c', name, path]))
}

/** The result of `qemu-img check`: exit code, and the decoded report when the check ran (exit 0, 2 or 3). */
export interface CheckResult {
  readonly code: number
  readonly report?: QemuCheck
  readonly stdout: string
  readonly stderr: string
}

/** `qemu-img check --output=json` (with `-r` when `repair` is given); exit codes are data. */
export const check = async (path: string, options: { format?: string; repair?: 'leaks' | 'all' } = {}): Promise<CheckResult> => {
  const r = await qemuImg([
    'check',
    '--output=json',
    '-f',
    options.format ?? 'qcow2',
    ...(options.repair === undefined ? [] : ['-r', options.repair]),
    path,
  ])
  if (r.code === 0 || r.code === 2 || r.code === 3) {
    return { code: r.code, report: decodeOrThrow(QemuCheckCodec, parseJson(r.stdout, 'qemu-img check'), 'qemu-img check'), stdout: r.stdout, stderr: r.stderr }
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr }
}

/** `qemu-img compare`: exit 0 identical, 1 different, 2+ error; the exit code is data. */
export const compare = (a: string, b: string, options: { formatA?: string; formatB?: string; strict?: boolean } = {}): Promise<ProcResult> =>
  qemuImg([
    'compare',
    ...(options.strict === true ? ['-s'] : []),
    '-f',
    options.formatA ?? 'qcow2',
    '-F',
    options.formatB ?? 'qcow2',
    a,
    b,
  ])

/** `qemu-img info --output=json`, decoded; rejects (failing the test) on failure. */
export const info = async (path: string, format = 'qcow2'): Promise<QemuInfo> => {
  const r = await expectSuccess('qemu-img info', qemuImg(['info', '--output=json', '-f', format, path]))
  return decodeOrThrow(QemuInfoCodec, parseJson(r.stdout, 'qemu-img info'), 'qemu-img info')
}

/** The qcow2-specific part of `info`, decoded; rejects when the image is not qcow2. */
export const qcow2Specific = (i: QemuInfo): t.TypeOf<typeof Qcow2SpecificCodec> => {
  const specific = i['format-specific']
  if (specific === undefined || specific.type !== 'qcow2') throw new Error(`qemu-img info: not a qcow2 image: ${JSON.stringify(i)}`)
  return decodeOrThrow(Qcow2SpecificCodec, specific.data, 'qemu-img info format-specific')
}

/** `qemu-img map --output=json`, decoded; rejects (failing the test) on failure. */
export const map = async (path: string, format = 'qcow2'): Promise<ReadonlyArray<QemuMapEntry>> => {
  const r = await expectSuccess('qemu-img map', qemuImg(['map', '--output=json', '-f', format, path]))
  return decodeOrThrow(QemuMapCodec, parseJson(r.stdout, 'qemu-img map'), 'qemu-img map')
}

// ---- files <-> RamDisk ----

const SECTOR = 512

/** Rejects (failing the test) with the error when a TaskEither result is a Left. */
const rightOrThrow = <A>(result: E.Either<unknown, A>, what: string): A => {
  if (E.isLeft(result)) throw new Error(`${what} failed: ${JSON.stringify(result.left)}`)
  return result.right
}

/** A RamDisk holding `bytes`, its size rounded up to whole sectors (zero-padded). */
export const ramDiskFromBytes = async (bytes: Uint8Array): Promise<RamDiskDevice> => {
  const size = Math.ceil(bytes.byteLength / SECTOR) * SECTOR
  const device = rightOrThrow(await RamDisk.connect({ size })(), 'RamDisk.connect')
  if (size > 0) {
    const padded = new Uint8Array(size)
    padded.set(bytes)
    rightOrThrow(await device.write(0, [padded])(), 'RamDisk.write')
  }
  return device
}

/** A RamDisk holding the contents of the file at `path`. */
export const ramDiskFromFile = async (path: string): Promise<RamDiskDevice> => ramDiskFromBytes(new Uint8Array(await readFile(path)))

/** Every byte of `device`, read in chunks. */
export const deviceBytes = async <Err>(device: BlockDevice<Err>): Promise<Uint8Array> => {
  const info = rightOrThrow(await device.getInfo()(), 'getInfo')
  const total = info.sizeSectors * info.sectorSize
  const out = new Uint8Array(total)
  const chunk = 1024 * 1024
  for (let pos = 0; pos < total; pos += chunk) {
    const n = Math.min(chunk, total - pos)
    rightOrThrow(await device.read(pos / info.sectorSize, [out.subarray(pos, pos + n)])(), 'read')
  }
  return out
}

/** Writes every byte of `device` to a new file at `path`. */
export const fileFromDevice = async <Err>(device: BlockDevice<Err>, path: string): Promise<void> => {
  const info = rightOrThrow(await device.getInfo()(), 'getInfo')
  const total = info.sizeSectors * info.sectorSize
  const chunk = 1024 * 1024
  const buffer = new Uint8Array(chunk)
  const handle = await open(path, 'w')
  try {
    for (let pos = 0; pos < total; pos += chunk) {
      const n = Math.min(chunk, total - pos)
      const view = buffer.subarray(0, n)
      rightOrThrow(await device.read(pos / info.sectorSize, [view])(), 'read')
      await handle.write(view, 0, n, pos)
    }
    await handle.truncate(total)
  } finally {
    await handle.close()
  }
}

/**
 * Writes a sparse file of `size` bytes at `path` holding `regions` (`[byte offset, bytes]`), zero
 * elsewhere: for images and models too large to hold or dump whole.
 */
export const writeSparseFile = async (path: string, size: number, regions: Iterable<readonly [number, Uint8Array]>): Promise<void> => {
  const handle = await open(path, 'w')
  try {
    await handle.truncate(size)
    for (const [offset, bytes] of regions) {
      const n = Math.min(bytes.byteLength, size - offset)
      if (n > 0) await handle.write(bytes, 0, n, offset)
    }
  } finally {
    await handle.close()
  }
}

/** Writes `bytes` to a new file at `path` (e.g. a model's raw image). */
export const writeBytes = (path: string, bytes: Uint8Array): Promise<void> => writeFile(path, bytes)

/** Saves `device` as the file `path` and expects `qemu-img check` to find it clean (exit code 0, no leaks). */
export const expectSavedImageClean = async <Err>(device: BlockDevice<Err>, path: string): Promise<CheckResult> => {
  await fileFromDevice(device, path)
  const checked = await check(path)
  expect(checked.code).toBe(0)
  expect(checked.report?.leaks ?? 0).toBe(0)
  return checked
}
