// `qcow convert`: copy an image into a new raw or qcow2 image, writing only non-zero data (sparse output).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { collect, orFail, type CliContext } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeFormat, decodeOptionalFormat, type Format } from './format.js'
import { createImage, openImage, withImage } from './image.js'
import { copyImage } from './copy.js'
import { decodeImageOptions, type ImageOptions } from './options.js'
import { startProgress } from './progress.js'

/** Zero-detection granule of raw output: a typical file-system block (qemu-img convert's `-S 4k`). */
const RAW_GRANULE = 4096
/** Default qcow2 cluster size. */
const DEFAULT_CLUSTER = 65536

/** The unit below which the output is not made sparse: a cluster for qcow2, a file-system block for raw. */
const granuleOf = (format: Format, options: ImageOptions): number =>
  format === 'qcow2' ? (options.clusterSize ?? DEFAULT_CLUSTER) : RAW_GRANULE

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
