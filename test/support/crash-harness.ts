// The crash harness: runs a workload on makeQcow(recorder(RamDisk)) and checks qcow images cut at many points.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockModule } from '../../src/block/device.js'
import type { BlockError } from '../../src/block/errors.js'
import { RamDisk, type RamDiskConfig, type RamDiskDevice } from '../../src/ramdisk/index.js'
import { recorder, type CrashImage, type KeepStrategy, type RecordingDevice } from '../../src/testing/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import type { CreateOptions, QcowDevice } from '../../src/qcow/api.js'
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
  readonly virtualSize: number
}

const must = <A>(what: string, result: E.Either<QcowError | BlockError, A>): A => {
  if (E.isLeft(result)) throw new Error(`${what}: ${describeError(result.left)}`)
  return result.right
}

/** Creates an image on a recorded RamDisk, flushes it, then runs a seeded workload of `batches` batches. */
export const recordWorkload = async (create: CreateOptions, seed: number, batches: number): Promise<RecordedRun> => {
  const rec = must('RamDisk', await RecordedRamDisk.connect({ size: 0 })())
  const qcow: QcowDevice = must('create', await RecordedQcow.create(rec, create)())
  must('first flush', await qcow.flush()())
  const firstCut = rec.operations()
  const info = must('getInfo', await qcow.getInfo()())
  const clusterSectors = (create.clusterSize ?? 65536) / 512
  const workload = generateWorkload({
    sizeSectors: info.sizeSectors,
    clusterSectors,
    batches,
    seed,
    discard: typeof qcow.discard === 'function',
    writeZeroes: typeof qcow.writeZeroes === 'function',
  })
  const baseline = new Uint8Array(info.sizeSectors * 512)
  const steps = await runWorkload(qcow, workload, baseline.slice(), () => rec.operations())
  for (const step of steps) {
    step.results.forEach((r, i) => must(`workload seed ${seed}: ${JSON.stringify(step.batch[i])}`, r))
  }
  return { rec, steps, baseline, firstCut, lastCut: rec.operations(), virtualSize: info.sizeSectors * 512 }
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
  const guest = new Uint8Array(run.virtualSize)
  const read = await qcow.read(0, [guest])()
  if (E.isLeft(read)) return { ...base, problem: `reading the guest disk failed: ${describeError(read.left)}` }
  const wrong = firstDisallowedSector(guest, guestAllowed(run.baseline, run.steps, image.cutAt))
  if (wrong !== undefined) return { ...base, problem: wrong }
  const probe = { sector: (image.cutAt * 7919) % (run.virtualSize / 512 - 8), sectors: 8, id: 0x7fff0000 + image.cutAt }
  const wrote = await issue(qcow, { kind: 'write', ...probe })
  if (E.isLeft(wrote)) return { ...base, problem: `writing after reopen failed: ${describeError(wrote.left)}` }
  const flushed = await qcow.flush()()
  if (E.isLeft(flushed)) return { ...base, problem: `flush after reopen failed: ${describeError(flushed.left)}` }
  const back = new Uint8Array(probe.sectors * 512)
  const reread = await qcow.read(probe.sector, [back])()
  const expected = writeBytes(probe)
  if (E.isLeft(reread) || !back.every((b, i) => b === expected[i])) return { ...base, problem: 'a write after reopen did not read back' }
  const info = await disk.right.getInfo()()
  if (E.isLeft(info)) return { ...base, problem: `base getInfo: ${describeError(info.left)}` }
  const repairedBytes = new Uint8Array(info.right.sizeSectors * 512)
  const got = await disk.right.read(0, [repairedBytes])()
  if (E.isLeft(got)) return { ...base, problem: `base read: ${describeError(got.left)}` }
  const after = verifyQcow(repairedBytes)
  await qcow.disconnect()()
  if (after.corruptions.length > 0) return { ...base, repairedBytes, problem: `after reopen, write and flush: ${after.corruptions.slice(0, 3).join('; ')}` }
  return { ...base, repairedBytes }
}

/** The strategies tried in turn, so every cut point sees several survivals of its unflushed writes. */
export const STRATEGIES: ReadonlyArray<KeepStrategy> = ['none', 'all', 'random', 'randomWrites']
