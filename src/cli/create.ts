// `qcow create`: a new raw or qcow2 image of a given size, with qemu-img's -o options.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { collect, orFail, quietWhen, type CliContext } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeFormat, decodeOptionalFormat, type Format } from './format.js'
import { closeImage, createImage, type NewBacking } from './image.js'
import { decodeImageOptions, type ImageOptions } from './options.js'
import { parseSize, roundUpToSector } from './size.js'

interface CreateFlags {
  readonly format: string
  readonly options?: ReadonlyArray<string>
  readonly quiet?: boolean
  readonly backing?: string
  readonly backingFormat?: string
  readonly unsafe?: boolean
  readonly allowBackingPath?: boolean
}

/** The line qemu-img prints before creating: `Formatting 'x', fmt=qcow2 ... size=N ...`. */
export const formattingLine = (file: string, format: Format, size: number, o: ImageOptions, backing?: Pick<NewBacking, 'file' | 'format'>): string =>
  format === 'raw'
    ? `Formatting '${file}', fmt=raw size=${size}\n`
    : `Formatting '${file}', fmt=qcow2 cluster_size=${o.clusterSize ?? 65536} extended_l2=off compression_type=zlib ` +
      `size=${size}${o.compat === undefined ? '' : ` compat=${o.compat}`}` +
      `${backing === undefined ? '' : ` backing_file=${backing.file} backing_fmt=${backing.format}`} lazy_refcounts=${o.lazyRefcounts === true ? 'on' : 'off'} ` +
      `refcount_bits=${o.refcountBits ?? 16}\n`

const sizeFrom = (sizeText: string | undefined, options: ImageOptions, backed: boolean): E.Either<CliFailure, number | undefined> =>
  sizeText !== undefined
    ? orFail(parseSize(sizeText))
    : options.size !== undefined
      ? E.right(options.size)
      : backed
        ? E.right(undefined)
        : E.left(failure('image creation needs a size: give SIZE or -o size=SIZE'))

/** `-b FILE -F FMT [-u]`, checked as qemu-img checks them. */
const backingFrom = (file: string, format: Format, flags: CreateFlags): E.Either<CliFailure, NewBacking | undefined> => {
  if (flags.backing === undefined) {
    return flags.backingFormat === undefined ? E.right(undefined) : E.left(failure('-F needs a backing file (-b)', file))
  }
  if (format !== 'qcow2') return E.left(failure(`Backing file not supported for file format '${format}'`, file))
  const backingFile = flags.backing
  return pipe(
    orFail(decodeOptionalFormat(flags.backingFormat)),
    E.chain((backingFormat) =>
      backingFormat === undefined
        ? E.left(failure('Backing file specified without backing format', file))
        : E.right({ file: backingFile, format: backingFormat, unsafe: flags.unsafe === true, allowPath: flags.allowBackingPath === true }),
    ),
  )
}

const run = (ctx: CliContext, file: string, sizeText: string | undefined, flags: CreateFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('format', () => orFail(decodeFormat(flags.format))),
    E.bind('options', ({ format }) => orFail(decodeImageOptions(format, flags.options ?? []))),
    E.bind('backing', ({ format }) => backingFrom(file, format, flags)),
    E.bind('size', ({ options, backing }) => sizeFrom(sizeText, options, backing !== undefined && !backing.unsafe)),
    TE.fromEither,
    TE.chain(({ format, options, size, backing }) => {
      const out = quietWhen(ctx, flags.quiet).console.out
      if (backing === undefined && size !== undefined) out(formattingLine(file, format, size, options))
      return pipe(
        createImage(file, format, size === undefined ? undefined : roundUpToSector(size), options, backing),
        TE.chainFirst((image) => {
          if (backing !== undefined) out(formattingLine(file, format, image.sizeBytes, options, backing))
          return TE.right(undefined)
        }),
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
    .option('-b, --backing <file>', 'qcow2: backing file, relative to the new image\'s directory (the size defaults to its size)')
    .option('-F, --backing-format <fmt>', 'format of the backing file: raw or qcow2 (required with -b)')
    .option('-u, --unsafe', 'record the backing file without opening it (SIZE is then required)')
    .option('--allow-backing-path', 'allow a backing file outside the new image\'s directory')
    .option('-q, --quiet', 'print nothing on success')
    .action(async (file: string, size: string | undefined, flags: CreateFlags) =>
      ctx.finish(await run(ctx, file, size, flags)()),
    )
