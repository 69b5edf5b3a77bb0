// One fuzz case in-process: open an image through makeQcow(RamDisk) read-write and read-only and use every
// public operation on it. Each call must settle to an Either; a throw, a rejection, a non-Either or an `Io`
// error (a RamDisk never fails, so `Io` means an engine exception was caught and wrapped) is a failure, and so
// is a successful write that does not read back at once (silent corruption).
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import { makeQcow, type QcowDevice, type QcowError } from '../src/qcow/index.js'
import { RamDisk, type RamDiskDevice } from '../src/ramdisk/index.js'

const Qcow = makeQcow(RamDisk)

/** How a case ended: `failure` names the first broken promise (absent when every call returned a value). */
export interface CaseOutcome {
  /** Public calls made, and how many of them returned a Left. */
  readonly calls: number
  readonly lefts: number
  /** Whether the read-write open succeeded. */
  readonly opened: boolean
  readonly failure?: string
}

/** Most bytes read from the virtual disk per open (the rest of a huge disk is sampled). */
const READ_ALL_LIMIT = 64 * 1024 * 1024
const CHUNK = 1024 * 1024

class Failure extends Error {}

/** Runs `task` and returns its Either; records a failure when it throws, rejects or returns no Either. */
const call = async <A>(stats: { calls: number; lefts: number }, name: string, make: () => TaskEither<QcowError, A>): Promise<E.Either<QcowError, A>> => {
  stats.calls++
  let result: unknown
  try {
    result = await make()()
  } catch (e) {
    throw new Failure(`${name} threw or rejected: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
  }
  if (typeof result !== 'object' || result === null || !('_tag' in result) || (result._tag !== 'Left' && result._tag !== 'Right')) {
    throw new Failure(`${name} returned something other than an Either`)
  }
  const either = result as E.Either<QcowError, A>
  if (E.isLeft(either)) {
    stats.lefts++
    if (process.env.FUZZ_DEBUG) console.error(name, JSON.stringify(either.left))
    if (either.left._tag === 'Io') throw new Failure(`${name} failed with an engine exception: ${either.left.message}`)
  }
  return either
}

/** Reads the whole virtual disk (or, past READ_ALL_LIMIT, its start, its end and the allocated extents). */
const readAll = async (stats: { calls: number; lefts: number }, device: QcowDevice): Promise<void> => {
  const info = await call(stats, 'getInfo', () => device.getInfo())
  if (E.isLeft(info)) return
  const sectors = info.right.sizeSectors
  const total = sectors * 512
  const buffer = new Uint8Array(CHUNK)
  const readRange = async (from: number, to: number): Promise<void> => {
    for (let at = from; at < to; at += CHUNK) {
      const length = Math.min(CHUNK, to - at)
      const r = await call(stats, 'read', () => device.read(at / 512, [buffer.subarray(0, length)]))
      if (E.isLeft(r)) return
    }
  }
  if (total <= READ_ALL_LIMIT) return readRange(0, total)
  await readRange(0, READ_ALL_LIMIT / 2)
  await readRange(total - CHUNK, total)
  const map = await call(stats, 'map', () => device.map())
  if (E.isLeft(map)) return
  let budget = READ_ALL_LIMIT / 2
  for (const extent of map.right.slice(0, 256)) {
    if (!extent.present || budget <= 0) continue
    const length = Math.min(extent.length, budget, CHUNK)
    budget -= length
    await readRange(extent.start, extent.start + length)
  }
}

/** A few writes around cluster boundaries, each read back at once, then a zero write, a discard and a flush. */
const writeSome = async (stats: { calls: number; lefts: number }, device: QcowDevice): Promise<void> => {
  const info = await call(stats, 'getInfo', () => device.getInfo())
  if (E.isLeft(info)) return
  const sectors = info.right.sizeSectors
  if (sectors < 16) return
  const data = new Uint8Array(4096).map((_, i) => (i * 7 + 1) & 0xff)
  const places = [0, Math.floor(sectors / 2) - 3, sectors - 8, 127, 129]
  const back = new Uint8Array(4096)
  for (const at of places) {
    if (at < 0 || at + 8 > sectors) continue
    const written = await call(stats, 'write', () => device.write(at, [data]))
    const read = await call(stats, 'read', () => device.read(at, [back]))
    if (E.isRight(written) && E.isRight(read) && !back.every((b, i) => b === data[i])) {
      throw new Failure(`lost write: sectors ${at}..${at + 7} read back other data right after a successful write`)
    }
  }
  await call(stats, 'writeZeroes', () => device.writeZeroes(Math.floor(sectors / 3), 8, { unmap: true }))
  await call(stats, 'discard', () => device.discard(Math.floor(sectors / 4), 16))
  await call(stats, 'flush', () => device.flush())
  await call(stats, 'read', () => device.read(0, [new Uint8Array(4096)]))
}

/** Opens, reads, checks, writes and repairs the image in `bytes`, then does it again read-only. */
export const exercise = async (bytes: Uint8Array): Promise<CaseOutcome> => {
  const stats = { calls: 0, lefts: 0 }
  let opened = false
  const disk = async (): Promise<RamDiskDevice> => {
    const size = Math.max(512, Math.ceil(bytes.length / 512) * 512)
    const connected = await RamDisk.connect({ size })()
    if (E.isLeft(connected)) throw new Failure('RamDisk.connect failed')
    const copy = new Uint8Array(size)
    copy.set(bytes)
    await connected.right.write(0, [copy])()
    return connected.right
  }
  try {
    const base = await disk()
    const rw = await call(stats, 'connect', () => Qcow.connect(base))
    if (E.isRight(rw)) {
      opened = true
      const device = rw.right
      await call(stats, 'header', () => device.header())
      await readAll(stats, device)
      await call(stats, 'check', () => device.check())
      await writeSome(stats, device)
      await call(stats, 'repair', () => device.repair({ all: true }))
      await call(stats, 'check', () => device.check())
      await readAll(stats, device)
      await call(stats, 'disconnect', () => device.disconnect())
    }
    const roBase = await disk()
    const ro = await call(stats, 'connect(readOnly)', () => Qcow.connect(roBase, { readOnly: true }))
    if (E.isRight(ro)) {
      const device = ro.right
      await readAll(stats, device)
      await call(stats, 'check', () => device.check())
      await call(stats, 'map', () => device.map())
      await call(stats, 'seekMapped', () => device.seekMapped(0))
      await call(stats, 'disconnect', () => device.disconnect())
    }
    return { calls: stats.calls, lefts: stats.lefts, opened }
  } catch (e) {
    const failure = e instanceof Failure ? e.message : `harness error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`
    return { calls: stats.calls, lefts: stats.lefts, opened, failure }
  }
}
