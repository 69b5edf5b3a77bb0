// `qcow create`: a new raw or qcow2 image of a given size, with qemu-img's -o options.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { collect, orFail, quietWhen, type CliContext } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeFormat, type Format } from './format.js'
import { closeImage, createImage } from './image.js'
import { decodeImageOptions, type ImageOptions } from './options.js'
import { parseSize, roundUpToSector } from './size.js'

interface CreateFlags {
  readonly format: string
  readonly options?: ReadonlyArray<string>
  readonly quiet?: boolean
}

/** The line qemu-img prints before creating: `Formatting 'x', fmt=qcow2 ... size=N ...`. */
export const formattingLine = (file: string, format: Format, size: number, o: ImageOptions): string =>
  format === 'raw'
    ? `Formatting '${file}', fmt=raw size=${size}\n`
    : `Formatting '${file}', fmt=qcow2 cluster_size=${o.clusterSize ?? 65536} extended_l2=off compression_type=zlib ` +
      `size=${size}${o.compat === undefined ? '' : ` compat=${o.compat}`} lazy_refcounts=${o.lazyRefcounts === true ? 'on' : 'off'} ` +
      `refcount_bits=${o.refcountBits ?? 16}\n`

const sizeFrom = (sizeText: string | undefined, options: ImageOptions): E.Either<CliFailure, number> =>
  sizeText !== undefined
    ? orFail(parseSize(sizeText))
    : options.size !== undefined
      ? E.right(options.size)
      : E.left(failure('image creation needs a size: give SIZE or -o size=SIZE'))

const run = (ctx: CliContext, file: string, sizeText: string | undefined, flags: CreateFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('format', () => orFail(decodeFormat(flags.format))),
    E.bind('options', ({ format }) => orFail(decodeImageOptions(format, flags.options ?? []))),
    E.bind('size', ({ options }) => sizeFrom(sizeText, options)),
    TE.fromEither,
    TE.chain(({ format, options, size }) => {
      quietWhen(ctx, flags.quiet).console.out(formattingLine(file, format, size, options))
      return pipe(
        createImage(file, format, roundUpToSector(size), options),
        TE.chain(closeImage),
        TE.map(() => 0),
      )
    }),
  )

/** The `create` subcommand. */
export const createCommand = (ctx: CliContext): Command =>
  new Command('create')
    .description('create a new image')
    .argument('<file>', 'image file to create (an existing file is overwritten)')
    .argument('[size]', 'virtual size: bytes or a k, M, G, T, P, E suffix; rounded up to 512 bytes')
    .option('-f, --format <fmt>', 'raw or qcow2', 'raw')
    .option('-o, --options <key=value,...>', 'qcow2: cluster_size, compat, refcount_bits, lazy_refcounts; both: size', collect)
    .option('-q, --quiet', 'print nothing on success')
    .action(async (file: string, size: string | undefined, flags: CreateFlags) =>
      ctx.finish(await run(ctx, file, size, flags)()),
    )
