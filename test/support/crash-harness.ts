// The crash harness: runs a workload on makeQcow(recorder(RamDisk)) and checks qcow images cut at many points.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockModule } from '../../src/block/device.js'
import type { BlockError } from '../../src/block/errors.js'
import { RamDisk, type RamDiskConfig, type RamDiskDevice } from '../../src/ramdisk/index.js'
import { recorder, type CrashImage, type KeepStrategy, type RecordingDevice } from '../../src/testing/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import type { ConnectOptions, CreateOptions, QcowDevice } from '../../src/qcow/api.js'
import { describeError, type QcowError } from '../../src/qcow/errors.js'
import { verifyQcow } from './qcow-verify.js'
import { firstDisallowedSector, generateWorkload, guestAllowed, issue, runWorkload, writeBytes, type Step } from './workload.js'

/** RamDisks wrapped in a crash recorder, as a module for makeQcow. */
export const RecordedRamDisk: BlockModule<RamDiskConfig, RecordingDevice<BlockError>> = {
  name: 'Recorded(RamDisk)',
  connect: (config) => TE.map((d: RamDiskDevice) => recorder(d))(RamDisk.connect(config)),
}

/** qcow over recorded RamDisks (the workload side) and over plain RamDisks (reopening crash images). */
export const RecordedQcow = makeQcow(RecordedRamDisk)
export const RamQcow = makeQcow(RamDisk)

/** A workload that ran: the recorder, the guest steps, the cut points worth trying and the guest baseline. */
export interface RecordedRun {
  readonly rec: RecordingDevice<BlockError>
  readonly steps: ReadonlyArray<Step<QcowError>>
  readonly baseline: Uint8Array
  /** Log length once the image was created and flushed: cuts before it may precede the image itself. */
  readonly firstCut: number
  readonly lastCut: number
  /** The optional guest operations the device offered, hence used by the workload. */
  readonly offered: ReadonlyArray<'discard' | 'writeZeroes' | 'resize'>
}

const must = <A>(what: string, result: E.Either<QcowError | BlockError, A>): A => {
  if (E.isLeft(result)) throw new Error(`${what}: ${describeError(result.left)}`)
  return result.right
}

/**
 * Creates an image on a recorded RamDisk, flushes it, then runs a seeded workload of `batches`
 * batches. With `connect` options (e.g. tiny caches), the image is created on a plain RamDisk first
 * and reopened with them over the recorder, so every cut point of the reopened life is tried.
 */
export const recordWorkload = async (create: CreateOptions, seed: number, batches: number, connect?: ConnectOptions): Promise<RecordedRun> => {
  const { rec, qcow, firstCut } = connect === undefined ? await createRecorded(create) : await reopenRecorded(create, connect)
  const info = must('getInfo', await qcow.getInfo()())
  const clusterSectors = (create.clusterSize ?? 65536) / 512
  const workload = generateWorkload({
    sizeSectors: info.sizeSectors,
    clusterSectors,
    batches,
    seed,
    discard: typeof qcow.discard === 'function',
    writeZeroes: typeof qcow.writeZeroes === 'function',
    resize: typeof qcow.resize === 'function',
  })
  const baseline = new Uint8Array(info.sizeSectors * 512)
  const steps = await runWorkload(qcow, workload, baseline, () => rec.operations())
  for (const step of steps) {
    step.results.forEach((r, i) => must(`workload seed ${seed}: ${JSON.stringify(step.batch[i])}`, r))
  }
  const offered = (['discard', 'writeZeroes', 'resize'] as const).filter((k) => typeof qcow[k] === 'function')
  return { rec, steps, baseline, firstCut, lastCut: rec.operations(), offered }
}

/** A recorded device with an open image, and the first cut point at which the image is complete and flushed. */
interface Started {
  readonly rec: RecordingDevice<BlockError>
  readonly qcow: QcowDevice
  readonly firstCut: number
}

const createRecorded = async (create: CreateOptions): Promise<Started> => {
  const rec = must('RamDisk', await RecordedRamDisk.connect({ size: 0 })())
  const qcow = must('create', await RecordedQcow.create(rec, create)())
  must('first flush', await qcow.flush()())
  return { rec, qcow, firstCut: rec.operations() }
}

const reopenRecorded = async (create: CreateOptions, connect: ConnectOptions): Promise<Started> => {
  const ram = must('RamDisk', await RamDisk.connect({ size: 0 })())
  const created = must('create', await RamQcow.create(ram, create)())
  must('first flush', await created.flush()())
  const size = must('getInfo', await ram.getInfo()()).sizeSectors
  const bytes = new Uint8Array(size * 512)
  must('read', await ram.read(0, [bytes])())
  const rec = must('RamDisk', await RecordedRamDisk.connect({ size: bytes.length })())
  must('copy', await rec.write(0, [bytes])())
  must('copy flush', await rec.flush()())
  const firstCut = rec.operations()
  return { rec, qcow: must('connect', await RecordedQcow.connect(rec, connect)()), firstCut }
}

/** The part of the engine's `check()` report this harness reads. */
export interface CheckCounts {
  readonly corruptions: number
  readonly checkErrors: number
  readonly leaks: number
  readonly problems: ReadonlyArray<string>
}

/** The engine's `check()` on `qcow`, when this build of the engine has it (the maintenance issue adds it). */
export const engineCheck = (qcow: QcowDevice): TE.TaskEither<QcowError, CheckCounts> | undefined => {
  const check = (qcow as { check?: () => TE.TaskEither<QcowError, CheckCounts> }).check
  return typeof check === 'function' ? check.call(qcow) : undefined
}

/** One crash image's verdict: a problem description, or undefined when every check passed. */
export interface CrashVerdict {
  readonly problem?: string
  readonly dirty: boolean
  readonly leaks: number
  /** Raw image bytes and the bytes after reopening and flushing, for external checks. */
  readonly rawBytes: Uint8Array
  readonly repairedBytes?: Uint8Array
}

/**
 * Checks one crash image: the raw bytes pass the verifier (refcounts too unless the lazy-refcount
 * dirty bit is set), the image opens read-write, every guest sector holds its flushed contents or
 * the contents of a request issued since, a fresh write reads back, and after a flush the image
 * (repaired when it was dirty) passes the verifier with refcounts.
 */
export const checkCrashImage = async (run: RecordedRun, image: CrashImage): Promise<CrashVerdict> => {
  const rawBytes = image.bytes()
  const first = verifyQcow(rawBytes)
  const raw = first.dirty ? verifyQcow(rawBytes, { skipRefcounts: true }) : first
  const base = { dirty: raw.dirty, leaks: raw.leaks, rawBytes }
  if (raw.corruptions.length > 0) return { ...base, problem: `raw image: ${raw.corruptions.slice(0, 3).join('; ')}` }
  if (raw.corruptBit) return { ...base, problem: 'raw image has the corrupt bit set' }
  const disk = await image.toRamDisk()()
  if (E.isLeft(disk)) return { ...base, problem: `toRamDisk: ${describeError(disk.left)}` }
  const opened = await RamQcow.connect(disk.right)()
  if (E.isLeft(opened)) return { ...base, problem: `open read-write failed: ${describeError(opened.left)}` }
  const qcow = opened.right
  const info = await qcow.getInfo()()
  if (E.isLeft(info)) return { ...base, problem: `getInfo failed: ${describeError(info.left)}` }
  const guestSectors = info.right.sizeSectors
  const guest = new Uint8Array(guestSectors * 512)
  const read = await qcow.read(0, [guest])()
  if (E.isLeft(read)) return { ...base, problem: `reading the guest disk failed: ${describeError(read.left)}` }
  const wrong = firstDisallowedSector(guest, guestAllowed(run.baseline, run.steps, image.cutAt))
  if (wrong !== undefined) return { ...base, problem: wrong }
  const checking = engineCheck(qcow)
  if (checking !== undefined) {
    const checked = await checking()
    if (E.isLeft(checked)) return { ...base, problem: `check() failed: ${describeError(checked.left)}` }
    if (checked.right.corruptions > 0 || checked.right.checkErrors > 0) {
      return { ...base, problem: `check() after reopen: ${checked.right.problems.slice(0, 3).join('; ')}` }
    }
  }
  const probe = { sector: (image.cutAt * 7919) % (guestSectors - 8), sectors: 8, id: 0x7fff0000 + image.cutAt }
  const wrote = await issue(qcow, { kind: 'write', ...probe })
  if (E.isLeft(wrote)) return { ...base, problem: `writing after reopen failed: ${describeError(wrote.left)}` }
  const flushed = await qcow.flush()()
  if (E.isLeft(flushed)) return { ...base, problem: `flush after reopen failed: ${describeError(flushed.left)}` }
  const back = new Uint8Array(probe.sectors * 512)
  const reread = await qcow.read(probe.sector, [back])()
  const expected = writeBytes(probe)
  if (E.isLeft(reread) || !back.every((b, i) => b === expected[i])) return { ...base, problem: 'a write after reopen did not read back' }
  const baseInfo = await disk.right.getInfo()()
  if (E.isLeft(baseInfo)) return { ...base, problem: `base getInfo: ${describeError(baseInfo.left)}` }
  const repairedBytes = new Uint8Array(baseInfo.right.sizeSectors * 512)
  const got = await disk.right.read(0, [repairedBytes])()
  if (E.isLeft(got)) return { ...base, problem: `base read: ${describeError(got.left)}` }
  const after = verifyQcow(repairedBytes)
  await qcow.disconnect()()
  if (after.corruptions.length > 0) return { ...base, repairedBytes, problem: `after reopen, write and flush: ${after.corruptions.slice(0, 3).join('; ')}` }
  return { ...base, repairedBytes }
}

/**
 * Crashes again while recovering from `image`: opens it (repairing it when dirty) over a fresh
 * recorder, reads the guest disk, writes one probe request and flushes; then checks every cut point
 * of that recovery with `checkCrashImage`. Returns the number of crash states checked, or a problem.
 */
export const checkRecoveryCrashes = async (image: CrashImage, keep: KeepStrategy, seed: number): Promise<{ states: number; problem?: string }> => {
  const disk = await image.toRamDisk()()
  if (E.isLeft(disk)) return { states: 0, problem: `toRamDisk: ${describeError(disk.left)}` }
  const rec = recorder(disk.right)
  const opened = await RecordedQcow.connect(rec)()
  if (E.isLeft(opened)) return { states: 0, problem: `recovery open failed: ${describeError(opened.left)}` }
  const qcow = opened.right
  const info = await qcow.getInfo()()
  if (E.isLeft(info)) return { states: 0, problem: `recovery getInfo: ${describeError(info.left)}` }
  const baseline = new Uint8Array(info.right.sizeSectors * 512)
  const read = await qcow.read(0, [baseline])()
  if (E.isLeft(read)) return { states: 0, problem: `recovery read: ${describeError(read.left)}` }
  const probe = { kind: 'write' as const, sector: (image.cutAt * 104729) % (info.right.sizeSectors - 24), sectors: 24, id: 0x7ffe0000 + image.cutAt }
  const steps = await runWorkload(qcow, [[probe], [{ kind: 'flush' }]], baseline, () => rec.operations())
  for (const step of steps) {
    for (const r of step.results) if (E.isLeft(r)) return { states: 0, problem: `recovery workload: ${describeError(r.left)}` }
  }
  const run: RecordedRun = { rec, steps, baseline, firstCut: 0, lastCut: rec.operations(), offered: [] }
  const images = await rec.crashImages({ keep, seed })()
  if (E.isLeft(images)) return { states: 0, problem: `crashImages: ${JSON.stringify(images.left)}` }
  let states = 0
  for (const again of images.right) {
    const verdict = await checkCrashImage(run, again)
    states++
    if (verdict.problem !== undefined) return { states, problem: `recovery cut ${again.cutAt} of ${run.lastCut}: ${verdict.problem}` }
  }
  return { states }
}

/** The strategies tried in turn, so every cut point sees several survivals of its unflushed writes. */
export const STRATEGIES: ReadonlyArray<KeepStrategy> = ['none', 'all', 'random', 'randomWrites']
