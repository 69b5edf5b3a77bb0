// `qcow commit`: write an overlay's data into its backing file and empty the overlay, as `qemu-img commit` does.
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { orFail, quietWhen, type CliContext } from './context.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { decodeOptionalFormat } from './format.js'
import { openImage, withImage, type Image } from './image.js'

const commitImage = (ctx: CliContext, image: Image): TE.TaskEither<CliFailure, number> => {
  const qcow = image.qcow
  if (qcow === undefined) return TE.left(failure(`Cannot commit an image of format '${image.format}': it has no backing file`, image.path))
  return pipe(
    qcow.backingChain(),
    TE.mapLeft(fromQcowError(image.path)),
    TE.filterOrElse(
      (chain) => chain.length > 0,
      () => failure('Image does not have a backing file', image.path),
    ),
    TE.chain(() => pipe(qcow.commit(), TE.mapLeft(fromQcowError(image.path)))),
    TE.map(() => {
      ctx.console.out('Image committed.\n')
      return 0
    }),
  )
}

interface CommitFlags {
  readonly format?: string
  readonly quiet?: boolean
  readonly allowBackingPath?: boolean
}

const run = (ctx: CliContext, file: string, flags: CommitFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    orFail(decodeOptionalFormat(flags.format)),
    TE.fromEither,
    TE.chain((format) =>
      pipe(
        openImage(file, { readOnly: false, allowBackingPath: flags.allowBackingPath === true, ...(format === undefined ? {} : { format }) }),
        withImage((image) => commitImage(quietWhen(ctx, flags.quiet), image)),
      ),
    ),
  )

/** The `commit` subcommand. */
export const commitCommand = (ctx: CliContext): Command =>
  new Command('commit')
    .description('write the data of an overlay into its backing file, then empty the overlay')
    .argument('<file>', 'overlay image')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('--allow-backing-path', 'allow a backing file outside the image\'s directory')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (file: string, flags: CommitFlags) => ctx.finish(await run(ctx, file, flags)()))
