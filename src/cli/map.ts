// `qcow map`: the allocation map of an image, as `qemu-img map` prints it (JSON or the human table).
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import { decodeOutput, orFail, type CliContext, type Output } from './context.js'
import { failure, type CliFailure } from './failure.js'
import { decodeOptionalFormat } from './format.js'
import { extentsOf, type Extent } from './extents.js'
import { openImage, withImage, type Image } from './image.js'

/** One entry exactly as qemu-img writes it: `{ "start": 0, ..., "offset": 327680}`. */
const jsonEntry = (e: Extent): string =>
  `{ "start": ${e.start}, "length": ${e.length}, "depth": ${e.depth}, "present": ${e.present}, "zero": ${e.zero}, "data": ${e.data}` +
  `${e.offset === undefined ? '' : `, "offset": ${e.offset}`}}`

/** The JSON form: a list with one entry per line. */
export const renderMapJson = (extents: ReadonlyArray<Extent>): string => `[${extents.map(jsonEntry).join(',\n')}]\n`

/** C's `%#-16x`: hex with a 0x prefix (none for zero), left-justified in 16 columns. */
const hexColumn = (n: number): string => (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(16)

/** The human table: the extents holding data, with where they are stored. */
export const renderMapHuman = (image: Pick<Image, 'path'>, extents: ReadonlyArray<Extent>): E.Either<CliFailure, string> => {
  const rows: string[] = [`${'Offset'.padEnd(16)}${'Length'.padEnd(16)}${'Mapped to'.padEnd(16)}File\n`]
  for (const e of extents) {
    if (!e.data || e.zero) continue
    if (e.offset === undefined) return E.left(failure('the image contains compressed clusters, which have no single host offset; use --output=json', image.path))
    rows.push(`${hexColumn(e.start)}${hexColumn(e.length)}${hexColumn(e.offset)}${e.file}\n`)
  }
  return E.right(rows.join(''))
}

const mapAndPrint = (ctx: CliContext, image: Image, output: Output): TE.TaskEither<CliFailure, number> => {
  return pipe(
    extentsOf(image),
    TE.chainEitherK((extents) => (output === 'json' ? E.right(renderMapJson(extents)) : renderMapHuman(image, extents))),
    TE.map((text) => {
      ctx.console.out(text)
      return 0
    }),
  )
}

interface MapFlags {
  readonly allowBackingPath?: boolean
  readonly format?: string
  readonly output: string
}

const run = (ctx: CliContext, file: string, flags: MapFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    E.Do,
    E.bind('output', () => decodeOutput(flags.output)),
    E.bind('format', () => orFail(decodeOptionalFormat(flags.format))),
    TE.fromEither,
    TE.chain(({ output, format }) =>
      pipe(
        openImage(file, { allowBackingPath: flags.allowBackingPath === true, readOnly: true, ...(format === undefined ? {} : { format }) }),
        withImage((image) => mapAndPrint(ctx, image, output)),
      ),
    ),
  )

/** The `map` subcommand. */
export const mapCommand = (ctx: CliContext): Command =>
  new Command('map')
    .description('show which parts of the disk are allocated, zero or data, and where they are stored')
    .argument('<file>', 'image file')
    .option('-f, --format <fmt>', 'image format; probed when absent')
    .option('--output <fmt>', 'human or json', 'human')
    .option('--allow-backing-path', 'allow backing files outside the image\'s directory')
    .action(async (file: string, flags: MapFlags) => ctx.finish(await run(ctx, file, flags)()))
