// `qcow check`: consistency report (and `-r` repair) of a qcow2 image, as `qemu-img check` prints it.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import * as t from 'io-ts/lib/index.js'
import { Command } from 'commander'
import { decodeOutput, orFail, qemuJson, quietWhen, type CliContext, type Output } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeOptionalFormat } from './format.js'
import { openImage, withImage, type Image } from './image.js'
import type { CheckReport } from '../index.js'
import { checkImage, repairImage } from './maintenance.js'

/** qemu-img's exit code for "this format cannot be checked". */
export const EXIT_NO_CHECK = 63

/** `-r leaks|all`. */
const RepairCodec = t.keyof({ leaks: null, all: null }, 'Repair')
type Repair = t.TypeOf<typeof RepairCodec>

const decodeRepair = (text: string | undefined): E.Either<string, Repair | undefined> =>
  text === undefined || RepairCodec.is(text) ? E.right(text) : E.left(`-r must be leaks or all, got '${text}'`)

/** How many leaks and corruptions a repair fixed. */
export interface Fixed {
  readonly leaks: number
  readonly corruptions: number
}

/** The JSON object `qemu-img check --output=json` prints: zero-valued optional counts are left out. */
export const checkJson = (image: Pick<Image, 'path' | 'format'>, report: CheckReport, fixed: Fixed): Record<string, unknown> => {
  const optional = (key: string, n: number | undefined) => (n === undefined || n === 0 ? {} : { [key]: n })
  return {
    'image-end-offset': report.imageEndOffset,
    'total-clusters': report.totalClusters,
    'check-errors': report.checkErrors,
    ...optional('corruptions', report.corruptions),
    ...optional('leaks', report.leaks),
    ...optional('corruptions-fixed', fixed.corruptions),
    ...optional('leaks-fixed', fixed.leaks),
    'allocated-clusters': report.allocatedClusters,
    ...optional('fragmented-clusters', report.fragmentedClusters),
    ...optional('compressed-clusters', report.compressedClusters),
    filename: image.path,
    format: image.format,
  }
}

const percent = (part: number, whole: number): string => ((part * 100) / whole).toFixed(2)

/** The human report, as `qemu-img check` prints it. */
export const renderCheckHuman = (r: CheckReport): string => {
  const lines: string[] = []
  const errors = r.checkErrors
  if (r.corruptions === 0 && r.leaks === 0 && errors === 0) lines.push('No errors were found on the image.')
  if (r.corruptions > 0) {
    lines.push('', `${r.corruptions} errors were found on the image.`, 'Data may be corrupted, or further writes to the image may corrupt it.')
  }
  if (r.leaks > 0) {
    lines.push('', `${r.leaks} leaked clusters were found on the image.`, 'This means waste of disk space, but no harm to data.')
  }
  if (errors > 0) lines.push('', `${errors} internal errors have occurred during the check.`)
  if (r.totalClusters !== 0 && r.allocatedClusters !== 0) {
    lines.push(
      `${r.allocatedClusters}/${r.totalClusters} = ${percent(r.allocatedClusters, r.totalClusters)}% allocated, ` +
        `${percent(r.fragmentedClusters, r.allocatedClusters)}% fragmented, ` +
        `${percent(r.compressedClusters, r.allocatedClusters)}% compressed clusters`,
    )
  }
  if (r.imageEndOffset !== 0) lines.push(`Image end offset: ${r.imageEndOffset}`)
  return lines.map((l) => `${l}\n`).join('')
}

/** What `qemu-img check -r` prints before re-checking, when it repaired something. */
export const renderRepairHuman = (fixed: Fixed): string =>
  fixed.leaks === 0 && fixed.corruptions === 0
    ? ''
    : `The following inconsistencies were found and repaired:\n\n    ${fixed.leaks} leaked clusters\n` +
      `    ${fixed.corruptions} corruptions\n\nDouble checking the fixed image now...\n`

/** qemu-img check's exit code for a report: 1 check errors, 2 corruptions, 3 leaks only, 0 clean. */
export const checkExitCode = (r: CheckReport): number =>
  (r.checkErrors) > 0 ? 1 : r.corruptions > 0 ? 2 : r.leaks > 0 ? 3 : 0

const problemLines = (r: CheckReport): string =>
  r.problems.map((p) => `${p}\n`).join('')

/** Checks (and with `repair`, repairs then re-checks) an open image, printing as qemu-img check does; resolves to its exit code. */
export const checkAndReport = (ctx: CliContext, image: Image, output: Output, repair: Repair | undefined): TE.TaskEither<CliFailure, number> => {
  const qcow = image.qcow
  if (qcow === undefined) return TE.left(failure('this image format does not support checks', image.path, EXIT_NO_CHECK))
  return pipe(
    checkImage(image.path, qcow),
    TE.chain((before) => {
      ctx.console.err(problemLines(before))
      if (repair === undefined) return TE.right({ report: before, fixed: { leaks: 0, corruptions: 0 } })
      return pipe(
        repairImage(image.path, qcow, repair),
        TE.map((after) => {
          const fixed = { leaks: after.leaksFixed, corruptions: after.corruptionsFixed }
          if (output === 'human') ctx.console.out(renderRepairHuman(fixed))
          return { report: after, fixed }
        }),
      )
    }),
    TE.map(({ report, fixed }) => {
      ctx.console.out(output === 'json' ? qemuJson(checkJson(image, report, fixed)) : renderCheckHuman(report))
      return checkExitCode(report)
    }),
  )
}

interface CheckFlags {
  readonly format?: string
  readonly output: string
  readonly repair?: string
  readonly quiet?: boolean
}

const run = (ctx: CliContext, file: string, flags: CheckFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('output', () => decodeOutput(flags.output)),
    E.bind('format', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('repair', () => orFail(decodeRepair(flags.repair))),
    TE.fromEither,
    TE.chain(({ output, format, repair }) =>
      pipe(
        openImage(file, { withoutBacking: true, readOnly: repair === undefined, forRepair: repair !== undefined, ...(format === undefined ? {} : { format }) }),
        withImage((image) => checkAndReport(quietWhen(ctx, flags.quiet), image, output, repair)),
      ),
    ),
  )

/** The `check` subcommand. */
export const checkCommand = (ctx: CliContext): Command =>
  new Command('check')
    .description('check a qcow2 image for consistency (exit 0 clean, 2 corruptions, 3 leaks, 1 error, 63 not checkable)')
    .argument('<file>', 'image file')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('--output <fmt>', 'human or json', 'human')
    .option('-r, --repair <what>', 'repair leaks, or all (leaks, refcounts, COPIED flags)')
    .option('-q, --quiet', 'print nothing; the exit code tells')
    .action(async (file: string, flags: CheckFlags) => ctx.finish(await run(ctx, file, flags)()))
