// Helpers for backing-chain tests: qcow2 over files, a spying gate, whole-device reads, seeks checked against a chain map.
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../src/block/device.js'
import { FileBlock } from '../../src/file/index.js'
import { qemuImg, type ProcResult } from '../support/qemu.js'
import { expect } from 'vitest'
import { describeError, makeQcow, type BackingGate, type MapExtent, type QcowDevice, type QcowError } from '../../src/qcow/index.js'

/** qcow2 over files. */
export const QcowFile = makeQcow(FileBlock)

/** Runs a TaskEither and returns its Right, failing the test with the rendered error otherwise. */
export const ok = async <A>(task: TE.TaskEither<QcowError, A>): Promise<A> => {
  const r = await task()
  if (E.isLeft(r)) throw new Error(describeError(r.left))
  return r.right
}

/** Every guest byte of `device`. */
export const readAll = async (device: BlockDevice<QcowError>): Promise<Uint8Array> => {
  const info = await ok(device.getInfo())
  const out = new Uint8Array(info.sizeSectors * info.sectorSize)
  const chunk = 4 * 1024 * 1024
  for (let pos = 0; pos < out.byteLength; pos += chunk) {
    await ok(device.read(pos / info.sectorSize, [out.subarray(pos, Math.min(out.byteLength, pos + chunk))]))
  }
  return out
}

/**
 * A device forwarding reads, writes, flushes and (when `d` offers both) seeks to `d`, with its own
 * `disconnect`: what gates hand out over devices they do not give away.
 */
export const forwarding = (d: BlockDevice<QcowError>, disconnect: () => TE.TaskEither<QcowError, void>): BlockDevice<QcowError> => ({
  getInfo: () => d.getInfo(),
  read: (s, b) => d.read(s, b),
  write: (s, b) => d.write(s, b),
  flush: () => d.flush(),
  ...(d.seekMapped === undefined || d.seekUnmapped === undefined ? {} : { seekMapped: (s: number) => d.seekMapped!(s), seekUnmapped: (s: number) => d.seekUnmapped!(s) }),
  disconnect,
})

/** What a spied gate saw. */
export interface GateLog {
  readonly admitted: string[]
  readonly opened: string[]
  readonly closed: string[]
}

/** Wraps `gate`, recording every name it is asked about, every open and every close of what it opened. */
export const spyGate = (gate: BackingGate): { gate: BackingGate; log: GateLog } => {
  const log: GateLog = { admitted: [], opened: [], closed: [] }
  return {
    log,
    gate: {
      probe: gate.probe,
      ...(gate.identify === undefined ? {} : { identify: gate.identify }),
      admit: (name) => {
        log.admitted.push(name)
        return TE.map((a: { key: string; open: (mode: { readonly readOnly: boolean }) => TE.TaskEither<QcowError, BlockDevice<QcowError>> }) => ({
          key: a.key,
          open: (mode: { readonly readOnly: boolean }) =>
            TE.map((d: BlockDevice<QcowError>): BlockDevice<QcowError> => {
              log.opened.push(a.key)
              return forwarding(d, () => {
                log.closed.push(a.key)
                return d.disconnect()
              })
            })(a.open(mode)),
        }))(gate.admit(name))
      },
    },
  }
}

/** Runs qemu-img with `args`, failing the test with its output when it exits non-zero. */
export const qemuImgOk = async (args: ReadonlyArray<string>): Promise<ProcResult> => {
  const r = await qemuImg(args)
  if (r.code !== 0) throw new Error(`qemu-img ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`)
  return r
}

/** Byte equality (fast). */
export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

/** The first offset where `a` and `b` differ, or -1. */
export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.byteLength === b.byteLength ? -1 : n
}

/** Whether an extent of a chain map is mapped for seekMapped: allocated in a qcow2 layer, or data in a raw one. */
const mappedExtent = (e: MapExtent, rawDepths: ReadonlySet<number>): boolean => e.present && (e.data || !rawDepths.has(e.depth))

/**
 * Checks that the chain map `extents` covers the whole disk in order, and seekMapped/seekUnmapped against it
 * at the start, a middle sector and the last sector of every extent (at most `limit` extents), and
 * that every unmapped extent reads as zeroes in `bytes` (the disk's contents). `rawDepths` are the
 * depths of raw layers, whose holes are unmapped.
 */
export const expectSeeksFollowMap = async (
  device: QcowDevice,
  extents: ReadonlyArray<MapExtent>,
  bytes: Uint8Array,
  rawDepths: ReadonlySet<number>,
  limit = 200,
): Promise<void> => {
  const size = bytes.byteLength / 512
  expect(extents.map((e, i) => e.start === (i === 0 ? 0 : extents[i - 1]!.start + extents[i - 1]!.length) && e.length > 0)).not.toContain(false)
  expect(extents.reduce((n, e) => n + e.length, 0)).toBe(bytes.byteLength)
  const mapped = extents.map((e) => mappedExtent(e, rawDepths))
  const firstFrom = (index: number, sector: number, want: boolean): number => {
    if (mapped[index] === want) return sector
    for (let j = index + 1; j < extents.length; j++) if (mapped[j] === want) return extents[j]!.start / 512
    return size
  }
  const seen: Array<[number, number, number]> = []
  const expected: Array<[number, number, number]> = []
  for (let i = 0; i < Math.min(limit, extents.length); i++) {
    const e = extents[i]!
    const first = e.start / 512
    const last = (e.start + e.length) / 512 - 1
    for (const s of new Set([first, Math.floor((first + last) / 2), last])) {
      seen.push([s, await ok(device.seekMapped(s)), await ok(device.seekUnmapped(s))])
      expected.push([s, firstFrom(i, s, true), firstFrom(i, s, false)])
    }
    if (!mapped[i]) expect(bytes.subarray(e.start, e.start + e.length).every((b) => b === 0)).toBe(true)
  }
  expect(seen).toEqual(expected)
  expect([await ok(device.seekMapped(size)), await ok(device.seekUnmapped(size))]).toEqual([size, size])
}
