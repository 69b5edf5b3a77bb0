// `qcow rebase`: give an image another backing file (or none), keeping its content unless `-u`, as `qemu-img rebase`.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { orFail, type CliContext } from './context.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { decodeOptionalFormat, type Format } from './format.js'
import { RamDisk } from '../index.js'
import { openImage, openNewBacking, withImage, type Image, type OpenedBacking } from './image.js'

interface RebaseFlags {
  readonly format?: string
  readonly backing?: string
  readonly backingFormat?: string
  readonly unsafe?: boolean
  /** Accepted for qemu-img compatibility: rebase prints nothing on success anyway. */
  readonly quiet?: boolean
  readonly allowBackingPath?: boolean
}

/**
 * `-u` only rewrites the header, so, as with qemu-img, the new backing file is not opened (it may not
 * exist yet): the engine is given an empty stand-in device and the name and format to record.
 */
const placeholder = (path: string, format: Format): TE.TaskEither<CliFailure, OpenedBacking> =>
  pipe(
    RamDisk.connect({ size: 0, readOnly: true }),
    TE.mapLeft(fromQcowError(path)),
    TE.map((device) => ({ device, format, close: pipe(device.disconnect(), TE.mapLeft(fromQcowError(path))) })),
  )

/** Rebases onto `name` ('' for none) of `format` (required, as qemu-img requires it); the new backing is opened for the copy and closed afterwards. */
const rebaseImage = (image: Image, name: string, format: Format | undefined, unsafe: boolean, allowPath: boolean): TE.TaskEither<CliFailure, number> => {
  const qcow = image.qcow
  if (qcow === undefined) return TE.left(failure(`Cannot rebase an image of format '${image.format}'`, image.path))
  if (name === '') {
    return pipe(
      qcow.rebase(null, { unsafe }),
      TE.mapLeft(fromQcowError(image.path)),
      TE.map(() => 0),
    )
  }
  if (format === undefined) return TE.left(failure(`Could not change the backing file to '${name}': backing format must be specified`, image.path))
  return pipe(
    unsafe ? placeholder(image.path, format) : openNewBacking(image.path, name, format, allowPath),
    TE.chain((opened) =>
      pipe(
        qcow.rebase(opened.device, { unsafe, backingFile: name, backingFormat: opened.format }),
        TE.mapLeft(fromQcowError(image.path)),
        TE.matchEW(
          (f) => pipe(opened.close, TE.matchEW(() => TE.left(f), () => TE.left(f))),
          () => opened.close,
        ),
      ),
    ),
    TE.map(() => 0),
  )
}

const run = (file: string, flags: RebaseFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('format', () => orFail(decodeOptionalFormat(flags.format))),
    E.bind('backingFormat', () => orFail(decodeOptionalFormat(flags.backingFormat))),
    E.bind('name', () => (flags.backing === undefined ? E.left(failure('Must specify backing file (-b) or use unsafe mode (-u)')) : E.right(flags.backing))),
    TE.fromEither,
    TE.chain(({ format, backingFormat, name }) =>
      pipe(
        openImage(file, {
          readOnly: false,
          allowBackingPath: flags.allowBackingPath === true,
          ...(flags.unsafe === true ? { withoutBacking: true } : {}),
          ...(format === undefined ? {} : { format }),
        }),
        withImage((image) => rebaseImage(image, name, backingFormat, flags.unsafe === true, flags.allowBackingPath === true)),
      ),
    ),
  )

/** The `rebase` subcommand. */
export const rebaseCommand = (ctx: CliContext): Command =>
  new Command('rebase')
    .description('change the backing file of an image; the guest content is kept unless -u')
    .argument('<file>', 'image to rebase')
    .option('-b, --backing <file>', 'new backing file, relative to the image\'s directory ("" for none)')
    .option('-F, --backing-format <fmt>', 'format of the new backing file: raw or qcow2 (required unless -b "")')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('-u, --unsafe', 'only rewrite the backing file name: the guest content changes where the backing files differ')
    .option('--allow-backing-path', 'allow backing files outside the image\'s directory')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (file: string, flags: RebaseFlags) => ctx.finish(await run(file, flags)()))
