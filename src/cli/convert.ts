// `qcow convert`: copy an image into a new raw or qcow2 image, writing only non-zero data (sparse output).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { isZero } from '../index.js'
import { collect, orFail, type CliContext } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeFormat, decodeOptionalFormat, type Format } from './format.js'
import { dataRanges, extentsOf } from './extents.js'
import { createImage, openImage, withImage, type Image } from './image.js'
import { readBytes, writeBytes } from './bytes.js'
import { decodeImageOptions, type ImageOptions } from './options.js'
import { startProgress, type Progress } from './progress.js'
import { alignRanges, clipRanges, walkRanges } from './ranges.js'

/** Bytes read per step. */
const CHUNK = 2 * 1024 * 1024
/** Zero-detection granule of raw output: a typical file-system block. */
const RAW_GRANULE = 4096
/** Default qcow2 cluster size. */
const DEFAULT_CLUSTER = 65536

/** The unit below which the output is not made sparse: a cluster for qcow2, a file-system block for raw. */
const granuleOf = (format: Format, options: ImageOptions): number =>
  format === 'qcow2' ? (options.clusterSize ?? DEFAULT_CLUSTER) : RAW_GRANULE

/** Writes the non-zero granules of `data` (which starts at byte `start` of the disk) to `dst`. */
const writeNonZero = (dst: Image, start: number, data: Uint8Array, granule: number): TE.TaskEither<CliFailure, void> =>
  async () => {
    let runStart = -1
    const flushRun = async (end: number) => {
      const r = await writeBytes(dst, start + runStart, data.subarray(runStart, end))()
      runStart = -1
      return r
    }
    let at = 0
    while (at < data.byteLength) {
      const next = Math.min(data.byteLength, (Math.floor((start + at) / granule) + 1) * granule - start)
      if (isZero(data.subarray(at, next))) {
        if (runStart >= 0) {
          const r = await flushRun(at)
          if (E.isLeft(r)) return r
        }
      } else if (runStart < 0) runStart = at
      at = next
    }
    return runStart >= 0 ? flushRun(data.byteLength) : E.right(undefined)
  }

/**
 * Copies every non-zero byte of `src` to `dst` (same size), updating `progress`. Only the granules
 * that may hold data are read (holes of a raw source are skipped), each whole, as qemu-img does.
 */
export const copyImage = (src: Image, dst: Image, granule: number, progress: Progress): TE.TaskEither<CliFailure, void> =>
  pipe(
    extentsOf(src),
    TE.chain((extents) =>
      walkRanges(clipRanges(alignRanges(dataRanges(extents), granule), 0, src.sizeBytes), CHUNK, (start, length) =>
        pipe(
          readBytes(src, start, length),
          TE.chain((data) => writeNonZero(dst, start, data, granule)),
          TE.map(() => {
            progress.update(start + length)
            return undefined
          }),
        ),
      ),
    ),
    TE.map(() => progress.update(src.sizeBytes)),
  )

interface ConvertFlags {
  readonly allowBackingPath?: boolean
  readonly format?: string
  readonly outputFormat: string
  readonly options?: ReadonlyArray<string>
  readonly progress?: boolean
}

const run = (ctx: CliContext, source: string, target: string, flags: ConvertFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('inFormat', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('outFormat', () => orFail(decodeFormat(flags.outputFormat))),
    E.bind('options', ({ outFormat }) => orFail(decodeImageOptions(outFormat, flags.options ?? []))),
    E.filterOrElse(
      ({ options }) => options.size === undefined,
      () => failure('convert takes the size from the source image; -o size is not accepted'),
    ),
    TE.fromEither,
    TE.chain(({ inFormat, outFormat, options }) =>
      pipe(
        openImage(source, { allowBackingPath: flags.allowBackingPath === true, readOnly: true, ...(inFormat === undefined ? {} : { format: inFormat }) }),
        withImage((src) =>
          pipe(
            createImage(target, outFormat, src.sizeBytes, options),
            withImage((dst) => {
              const progress = startProgress(ctx.console, src.sizeBytes, flags.progress === true)
              return pipe(
                copyImage(src, dst, granuleOf(outFormat, options), progress),
                TE.bimap(
                  (f) => {
                    progress.stop()
                    return f
                  },
                  () => {
                    progress.stop()
                    return 0
                  },
                ),
              )
            }),
          ),
        ),
      ),
    ),
  )

/** The `convert` subcommand. */
export const convertCommand = (ctx: CliContext): Command =>
  new Command('convert')
    .description('copy an image to a new raw or qcow2 image, keeping it sparse')
    .argument('<source>', 'source image')
    .argument('<target>', 'image to create (an existing file is overwritten)')
    .option('-f, --format <fmt>', 'source format; probed when absent')
    .option('-O, --output-format <fmt>', 'target format: raw or qcow2', 'raw')
    .option('-o, --options <key=value,...>', 'target options, as for create', collect)
    .option('-p, --progress', 'show a progress bar when standard output is a terminal')
    .option('--allow-backing-path', 'allow backing files outside the image\'s directory')
    .action(async (source: string, target: string, flags: ConvertFlags) =>
      ctx.finish(await run(ctx, source, target, flags)()),
    )
