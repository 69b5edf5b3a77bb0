// The qcow2 maintenance operations of the device (check, repair, map, resize, zeroing), found at run time.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts/lib/index.js'
import type { QcowDevice, QcowError } from '../index.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { SECTOR } from './format.js'


/** A `check()` report, decoded from what the device returns. */
const CheckReportCodec = t.intersection([
  t.type({
    corruptions: t.number,
    leaks: t.number,
    allocatedClusters: t.number,
    totalClusters: t.number,
    imageEndOffset: t.number,
  }),
  t.partial({
    fragmentedClusters: t.number,
    compressedClusters: t.number,
    checkErrors: t.number,
    problems: t.array(t.union([t.string, t.type({ message: t.string })])),
  }),
])
/** What `qcow check` reports. */
export type CheckReport = t.TypeOf<typeof CheckReportCodec>

/** One extent of `map()`, in bytes. `present` is optional: older engines leave it out. */
const ExtentCodec = t.intersection([
  t.type({ start: t.number, length: t.number, data: t.boolean, zero: t.boolean }),
  t.partial({ present: t.boolean, offset: t.number, depth: t.number }),
])
/** One extent of the virtual disk's allocation map. */
export type MapExtent = t.TypeOf<typeof ExtentCodec>
const ExtentsCodec = t.array(ExtentCodec)

/** The documented maintenance API (issue 4) as the command calls it. */
interface MaintenanceApi {
  check?(): TE.TaskEither<QcowError, unknown>
  repair?(options: { leaks?: boolean; all?: boolean }): TE.TaskEither<QcowError, unknown>
  map?(fromSector?: number, sectors?: number): TE.TaskEither<QcowError, unknown>
  resize?(newSizeBytes: number, options: { allowShrink?: boolean }): TE.TaskEither<QcowError, unknown>
  seekMapped?(fromSector: number): TE.TaskEither<QcowError, unknown>
  seekUnmapped?(fromSector: number): TE.TaskEither<QcowError, unknown>
  writeZeroes?(sector: number, sectors: number, options?: { unmap?: boolean }): TE.TaskEither<QcowError, unknown>
}

/** Says that this build's qcow2 engine lacks an operation. */
export const notSupportedYet = (path: string, operation: string): CliFailure =>
  failure(`${operation} is not supported yet by this build's qcow2 engine`, path)

const decodeWith =
  <A>(codec: t.Decoder<unknown, A>, path: string, what: string) =>
  (u: unknown): TE.TaskEither<CliFailure, A> =>
    pipe(
      codec.decode(u),
      E.mapLeft(() => failure(`the engine returned an unexpected ${what}`, path)),
      TE.fromEither,
    )

const api = (qcow: QcowDevice): MaintenanceApi => qcow as unknown as MaintenanceApi

/** True when the device offers the named maintenance operation. */
export const supports = (qcow: QcowDevice, operation: keyof MaintenanceApi): boolean =>
  typeof api(qcow)[operation] === 'function'

/** Runs `check()`; never modifies the image. */
export const checkImage = (path: string, qcow: QcowDevice): TE.TaskEither<CliFailure, CheckReport> => {
  const d = api(qcow)
  return typeof d.check !== 'function'
    ? TE.left(notSupportedYet(path, 'check'))
    : pipe(d.check(), TE.mapLeft(fromQcowError(path)), TE.chain(decodeWith(CheckReportCodec, path, 'check report')))
}

/** What `repair` reports, when it reports counts (fields absent otherwise). */
const RepairResultCodec = t.partial({ leaksFixed: t.number, corruptionsFixed: t.number })
/** The counts a repair reported fixing, where it reported them. */
export type RepairResult = t.TypeOf<typeof RepairResultCodec>

/** Runs `repair({ leaks, all })` and returns the counts it reports fixing, if any. */
export const repairImage = (path: string, qcow: QcowDevice, mode: 'leaks' | 'all'): TE.TaskEither<CliFailure, RepairResult> => {
  const d = api(qcow)
  return typeof d.repair !== 'function'
    ? TE.left(notSupportedYet(path, 'repair'))
    : pipe(
        d.repair({ leaks: true, all: mode === 'all' }),
        TE.mapLeft(fromQcowError(path)),
        TE.map((result) => (typeof result === 'object' && result !== null ? result : {})),
        TE.chain(decodeWith(RepairResultCodec, path, 'repair result')),
      )
}

/** The allocation map of the whole disk, or undefined when the engine has no `map`. */
export const mapImage = (path: string, qcow: QcowDevice): TE.TaskEither<CliFailure, ReadonlyArray<MapExtent>> | undefined => {
  const d = api(qcow)
  return typeof d.map !== 'function'
    ? undefined
    : pipe(d.map(), TE.mapLeft(fromQcowError(path)), TE.chain(decodeWith(ExtentsCodec, path, 'allocation map')))
}

/**
 * The runs of sectors allocated in the image (data, compressed or zero clusters) as byte ranges,
 * from `seekMapped`/`seekUnmapped`, or undefined when the engine has neither.
 */
export const allocatedRuns = (
  path: string,
  qcow: QcowDevice,
  sizeBytes: number,
): TE.TaskEither<CliFailure, ReadonlyArray<readonly [number, number]>> | undefined => {
  const d = api(qcow)
  const seekMapped = d.seekMapped
  const seekUnmapped = d.seekUnmapped
  if (typeof seekMapped !== 'function' || typeof seekUnmapped !== 'function') return undefined
  const end = sizeBytes / SECTOR
  const seek = (f: (sector: number) => TE.TaskEither<QcowError, unknown>, from: number): TE.TaskEither<CliFailure, number> =>
    pipe(f.call(d, from), TE.mapLeft(fromQcowError(path)), TE.chain(decodeWith(t.number, path, 'sector number')))
  return async () => {
    const runs: Array<readonly [number, number]> = []
    let at = 0
    while (at < end) {
      const mapped = await seek(seekMapped, at)()
      if (E.isLeft(mapped)) return mapped
      if (mapped.right >= end) break
      const unmapped = await seek(seekUnmapped, mapped.right)()
      if (E.isLeft(unmapped)) return unmapped
      const stop = Math.min(end, Math.max(unmapped.right, mapped.right + 1))
      runs.push([mapped.right * SECTOR, stop * SECTOR])
      at = stop
    }
    return E.right(runs)
  }
}

/** Resizes a qcow2 image to `bytes` (issue 4: the engine's resize takes bytes); shrinking needs `allowShrink`. The header is read back to confirm the new size. */
export const resizeQcow = (
  path: string,
  qcow: QcowDevice,
  bytes: number,
  allowShrink: boolean,
): TE.TaskEither<CliFailure, void> => {
  const d = api(qcow)
  return typeof d.resize !== 'function'
    ? TE.left(notSupportedYet(path, 'resize'))
    : pipe(
        d.resize(bytes, { allowShrink }),
        TE.chain(() => qcow.header()),
        TE.mapLeft(fromQcowError(path)),
        TE.filterOrElse(
          (h) => h.size === bytes,
          (h) => failure(`the engine resized the image to ${h.size} bytes instead of ${bytes}`, path),
        ),
        TE.map(() => undefined),
      )
}

/** Zeroes whole sectors with the engine's `writeZeroes`, or undefined when it has none. */
export const writeZeroesQcow = (
  path: string,
  qcow: QcowDevice,
  sector: number,
  sectors: number,
  unmap: boolean,
): TE.TaskEither<CliFailure, void> | undefined => {
  const d = api(qcow)
  return typeof d.writeZeroes !== 'function'
    ? undefined
    : pipe(
        d.writeZeroes(sector, sectors, { unmap }),
        TE.mapLeft(fromQcowError(path)),
        TE.map(() => undefined),
      )
}
