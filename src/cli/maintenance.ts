// The qcow2 engine's maintenance operations (check, repair, resize, zeroing) with CLI failures.
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { CheckReport, QcowDevice, RepairReport } from '../index.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'

/** Runs `check()`; never modifies the image. */
export const checkImage = (path: string, qcow: QcowDevice): TE.TaskEither<CliFailure, CheckReport> =>
  pipe(qcow.check(), TE.mapLeft(fromQcowError(path)))

/** Runs `repair({ leaks, all })`: the report after the repair, with the counts it fixed. */
export const repairImage = (path: string, qcow: QcowDevice, mode: 'leaks' | 'all'): TE.TaskEither<CliFailure, RepairReport> =>
  pipe(qcow.repair({ leaks: true, all: mode === 'all' }), TE.mapLeft(fromQcowError(path)))

/** Resizes a qcow2 image to `bytes`; shrinking needs `allowShrink`. The header is read back to confirm the new size. */
export const resizeQcow = (path: string, qcow: QcowDevice, bytes: number, allowShrink: boolean): TE.TaskEither<CliFailure, void> =>
  pipe(
    qcow.resize(bytes, { allowShrink }),
    TE.chain(() => qcow.header()),
    TE.mapLeft(fromQcowError(path)),
    TE.filterOrElse(
      (h) => h.size === bytes,
      (h) => failure(`the engine resized the image to ${h.size} bytes instead of ${bytes}`, path),
    ),
    TE.map(() => undefined),
  )

/** Makes whole sectors read as zeroes with the engine's `writeZeroes` (`unmap` releases whole clusters). */
export const writeZeroesQcow = (path: string, qcow: QcowDevice, sector: number, sectors: number, unmap: boolean): TE.TaskEither<CliFailure, void> =>
  pipe(qcow.writeZeroes(sector, sectors, { unmap }), TE.mapLeft(fromQcowError(path)))

/** Deallocates whole sectors with the engine's `discard` (they read as zeroes afterwards). */
export const discardQcow = (path: string, qcow: QcowDevice, sector: number, sectors: number): TE.TaskEither<CliFailure, void> =>
  pipe(qcow.discard(sector, sectors), TE.mapLeft(fromQcowError(path)))
