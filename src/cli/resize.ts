// `qcow resize`: grow or shrink an image's virtual disk (`[+|-]SIZE`; shrinking needs --shrink).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { orFail, quietWhen, type CliContext } from './context.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { decodeOptionalFormat, SECTOR } from './format.js'
import { openImage, withImage, type Image } from './image.js'
import { resizeQcow } from './maintenance.js'
import { applySizeChange, parseSizeChange, type SizeChange } from './size.js'

const resizeRaw = (image: Image, bytes: number): TE.TaskEither<CliFailure, void> =>
  image.disk.resize === undefined
    ? TE.left(failure('the file device cannot be resized', image.path))
    : pipe(image.disk.resize(bytes / SECTOR), TE.mapLeft(fromQcowError(image.path)))

const resizeImage = (ctx: CliContext, image: Image, change: SizeChange, shrink: boolean): TE.TaskEither<CliFailure, number> =>
  pipe(
    TE.fromEither(pipe(applySizeChange(image.sizeBytes, change), E.mapLeft((m) => failure(m, image.path)))),
    TE.filterOrElse(
      (bytes) => bytes % SECTOR === 0,
      (bytes) => failure(`the new size must be a multiple of 512 bytes, got ${bytes}`, image.path),
    ),
    TE.filterOrElse(
      (bytes) => bytes >= image.sizeBytes || shrink,
      () => failure('use the --shrink option to shrink the image (data past the new end is lost)', image.path),
    ),
    TE.chain((bytes) => (image.qcow === undefined ? resizeRaw(image, bytes) : resizeQcow(image.path, image.qcow, bytes, shrink))),
    TE.map(() => {
      ctx.console.out('Image resized.\n')
      return 0
    }),
  )

interface ResizeFlags {
  readonly format?: string
  readonly shrink?: boolean
  readonly quiet?: boolean
}

const run = (ctx: CliContext, file: string, sizeText: string, flags: ResizeFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('format', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('change', () => orFail(parseSizeChange(sizeText))),
    TE.fromEither,
    TE.chain(({ format, change }) =>
      pipe(
        openImage(file, { withoutBacking: true, readOnly: false, ...(format === undefined ? {} : { format }) }),
        withImage((image) => resizeImage(quietWhen(ctx, flags.quiet), image, change, flags.shrink === true)),
      ),
    ),
  )

/** The `resize` subcommand. SIZE may start with `-`, so main passes it after `--`. */
export const resizeCommand = (ctx: CliContext): Command =>
  new Command('resize')
    .description('change the virtual size of an image')
    .argument('<file>', 'image file')
    .argument('<size>', 'new size, or +SIZE / -SIZE relative to the current one')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('--shrink', 'allow shrinking (data past the new end is lost)')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (file: string, size: string, flags: ResizeFlags) => ctx.finish(await run(ctx, file, size, flags)()))
