// `qcow compare`: whether two images read the same, with qemu-img compare's messages and exit codes.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { isZero } from '../index.js'
import { orFail, quietWhen, type CliContext } from './context.js'
import { withExitCode, type CliFailure } from './failure.js'
import { decodeOptionalFormat, SECTOR } from './format.js'
import { dataRanges, extentsOf } from './extents.js'
import { openImage, withImage, type Image } from './image.js'
import { readBytes } from './bytes.js'
import { firstStatusMismatch, statusRuns } from './block-status.js'
import { clipRanges, unionRanges, walkRanges, type Range } from './ranges.js'

/** Bytes compared per read. */
const CHUNK = 1024 * 1024

/** Index of the first byte where `a` and `b` differ, or -1 when they are equal. */
const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  if (Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))) return -1
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i
  return -1
}

/** Index of the first non-zero byte, or -1. */
const firstNonZero = (a: Uint8Array): number => {
  if (isZero(a)) return -1
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== 0) return i
  return -1
}

/** qemu-img reports the start of the first differing sector. */
const sectorOf = (byte: number): number => Math.floor(byte / SECTOR) * SECTOR

const rangesThatMayHoldData = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<Range>> =>
  pipe(extentsOf(image), TE.map(dataRanges))

/** The first offset in `[0, min size)` where the images differ, or undefined. */
const firstMismatchInCommon = (a: Image, b: Image): TE.TaskEither<CliFailure, number | undefined> => {
  const common = Math.min(a.sizeBytes, b.sizeBytes)
  return pipe(
    TE.Do,
    TE.bind('ra', () => rangesThatMayHoldData(a)),
    TE.bind('rb', () => rangesThatMayHoldData(b)),
    TE.chain(({ ra, rb }) =>
      walkRanges(clipRanges(unionRanges(ra, rb), 0, common), CHUNK, (start, length) =>
        pipe(
          TE.Do,
          TE.bind('da', () => readBytes(a, start, length)),
          TE.bind('db', () => readBytes(b, start, length)),
          TE.map(({ da, db }) => {
            const at = firstDifference(da, db)
            return at < 0 ? undefined : start + at
          }),
        ),
      ),
    ),
  )
}

/** The first non-zero offset of the longer image past the shorter one's end, or undefined. */
const firstDataPast = (longer: Image, from: number): TE.TaskEither<CliFailure, number | undefined> =>
  pipe(
    rangesThatMayHoldData(longer),
    TE.chain((ranges) =>
      walkRanges(clipRanges(ranges, from, longer.sizeBytes), CHUNK, (start, length) =>
        pipe(
          readBytes(longer, start, length),
          TE.map((data) => {
            const at = firstNonZero(data)
            return at < 0 ? undefined : start + at
          }),
        ),
      ),
    ),
  )

/** Prints the content verdict as qemu-img does. */
const reporter = (out: (text: string) => void) => (at: number | undefined): number => {
  if (at === undefined) {
    out('Images are identical.\n')
    return 0
  }
  out(`Content mismatch at offset ${sectorOf(at)}!\n`)
  return 1
}

/**
 * Compares two open images, printing qemu-img's messages; 0 identical, 1 different. Strict mode also
 * fails on different sizes and at the first run whose block status (allocation, zero, data) differs.
 */
export const compareImages = (ctx: CliContext, a: Image, b: Image, strict: boolean): TE.TaskEither<CliFailure, number> => {
  const out = ctx.console.out
  const report = reporter(out)
  if (a.sizeBytes !== b.sizeBytes && strict) {
    out('Strict mode: Image size mismatch!\n')
    return TE.right(1)
  }
  const [shorter, longer] = a.sizeBytes <= b.sizeBytes ? [a, b] : [b, a]
  const pastCommonPart = (): TE.TaskEither<CliFailure, number | undefined> => {
    if (a.sizeBytes === b.sizeBytes) return TE.right(undefined)
    out('Warning: Image size mismatch!\n')
    return firstDataPast(longer, shorter.sizeBytes)
  }
  const statusMismatch: TE.TaskEither<CliFailure, number | undefined> = strict
    ? pipe(
        TE.Do,
        TE.bind('sa', () => statusRuns(a)),
        TE.bind('sb', () => statusRuns(b)),
        TE.map(({ sa, sb }) => firstStatusMismatch(sa, sb)),
      )
    : TE.right(undefined)
  return pipe(
    TE.Do,
    TE.bind('status', () => statusMismatch),
    TE.bind('content', () => firstMismatchInCommon(a, b)),
    TE.chain(({ status, content }) => {
      if (status !== undefined && (content === undefined || content >= status)) {
        out(`Strict mode: Offset ${status} block status mismatch!\n`)
        return TE.right(1)
      }
      return pipe(
        content !== undefined ? TE.right<CliFailure, number | undefined>(content) : pastCommonPart(),
        TE.map(report),
      )
    }),
  )
}

interface CompareFlags {
  readonly allowBackingPath?: boolean
  readonly format?: string
  readonly secondFormat?: string
  readonly strict?: boolean
  readonly quiet?: boolean
}

const run = (ctx: CliContext, fileA: string, fileB: string, flags: CompareFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('fa', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('fb', () => orFail(decodeOptionalFormat(flags.secondFormat))),
    TE.fromEither,
    TE.chain(({ fa, fb }) =>
      pipe(
        openImage(fileA, { allowBackingPath: flags.allowBackingPath === true, readOnly: true, ...(fa === undefined ? {} : { format: fa }) }),
        withImage((a) =>
          pipe(
            openImage(fileB, { allowBackingPath: flags.allowBackingPath === true, readOnly: true, ...(fb === undefined ? {} : { format: fb }) }),
            withImage((b) => compareImages(quietWhen(ctx, flags.quiet), a, b, flags.strict === true)),
          ),
        ),
      ),
    ),
    TE.mapLeft((f) => withExitCode(f, 2)),
  )

/** The `compare` subcommand. */
export const compareCommand = (ctx: CliContext): Command =>
  new Command('compare')
    .description('compare the contents of two images (exit 0 identical, 1 different, 2 error)')
    .argument('<file1>', 'first image')
    .argument('<file2>', 'second image')
    .option('-f, --format <fmt>', 'format of the first image; probed when absent')
    .option('-F, --second-format <fmt>', 'format of the second image; probed when absent')
    .option('-s, --strict', 'images of different sizes are different')
    .option('-q, --quiet', 'print nothing; the exit code tells')
    .option('--allow-backing-path', 'allow backing files outside the image\'s directory')
    .action(async (a: string, b: string, flags: CompareFlags) => ctx.finish(await run(ctx, a, b, flags)()))
