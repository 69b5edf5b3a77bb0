// `qcow info`: an image's format, sizes and qcow2 header facts, as `qemu-img info` prints them.
import { stat } from 'node:fs/promises'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { Command } from 'commander'
import type { BlockDevice, QcowDevice, QcowError, QcowHeader } from '../index.js'
import { decodeOutput, orFail, qemuJson, type CliContext } from './context.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { decodeOptionalFormat, type Format } from './format.js'
import { sizeToString } from './human.js'
import { openImage, withImage, type Image } from './image.js'
import { combinePaths } from './paths.js'

/** The JSON object `qemu-img info --output=json` prints, field for field. */
export interface InfoJson {
  readonly 'virtual-size': number
  readonly filename: string
  readonly 'cluster-size'?: number
  readonly format: Format
  readonly 'actual-size': number
  readonly 'backing-filename'?: string
  readonly 'full-backing-filename'?: string
  readonly 'backing-filename-format'?: string
  readonly 'format-specific'?: { readonly type: 'qcow2'; readonly data: Qcow2SpecificJson }
  readonly 'dirty-flag': boolean
}

/** `format-specific.data` for qcow2; version 2 images carry only the first three fields. */
export interface Qcow2SpecificJson {
  readonly compat: '0.10' | '1.1'
  readonly 'compression-type': string
  readonly 'lazy-refcounts'?: boolean
  readonly 'refcount-bits': number
  readonly corrupt?: boolean
  readonly 'extended-l2'?: boolean
}

const EXTENDED_L2_BIT = 16n

const compressionName = (type: number): string => (type === 0 ? 'zlib' : type === 1 ? 'zstd' : `unknown (${type})`)

const qcow2Specific = (h: QcowHeader): Qcow2SpecificJson =>
  h.version === 2
    ? { compat: '0.10', 'compression-type': compressionName(h.compressionType), 'refcount-bits': h.refcountBits }
    : {
        compat: '1.1',
        'compression-type': compressionName(h.compressionType),
        'lazy-refcounts': h.lazyRefcounts,
        'refcount-bits': h.refcountBits,
        corrupt: h.corrupt,
        'extended-l2': (h.incompatibleFeatures & EXTENDED_L2_BIT) !== 0n,
      }

const backingFields = (image: InfoSource, h: QcowHeader) =>
  h.backingFile === undefined
    ? {}
    : {
        'backing-filename': h.backingFile,
        'full-backing-filename': combinePaths(image.path, h.backingFile),
        ...(h.backingFormat === undefined ? {} : { 'backing-filename-format': h.backingFormat }),
      }

const actualSize = (file: string): TE.TaskEither<CliFailure, number> =>
  TE.tryCatch(
    async () => (await stat(file)).blocks * 512,
    () => failure('cannot read the file\'s allocated size', file),
  )

/** What info reads from an image or a layer of its backing chain. */
type InfoSource = Pick<Image, 'path' | 'format' | 'qcow' | 'sizeBytes'>

/** Builds the info object of an open image. */
export const imageInfo = (image: InfoSource): TE.TaskEither<CliFailure, InfoJson> =>
  pipe(
    actualSize(image.path),
    TE.chain((actual) =>
      image.qcow === undefined
        ? TE.right<CliFailure, InfoJson>({
            'virtual-size': image.sizeBytes,
            filename: image.path,
            format: image.format,
            'actual-size': actual,
            'dirty-flag': false,
          })
        : pipe(
            image.qcow.header(),
            TE.mapLeft(fromQcowError(image.path)),
            TE.map(
              (h): InfoJson => ({
                'virtual-size': image.sizeBytes,
                filename: image.path,
                'cluster-size': h.clusterSize,
                format: image.format,
                'actual-size': actual,
                ...backingFields(image, h),
                'format-specific': { type: 'qcow2', data: qcow2Specific(h) },
                'dirty-flag': h.dirty,
              }),
            ),
          ),
    ),
  )

const specificLines = (data: Qcow2SpecificJson): string[] => [
  'Format specific information:',
  ...Object.entries(data).map(([key, value]) => `    ${key.replace(/-/g, ' ')}: ${String(value)}`),
]

/** `backing file: NAME`, with ` (actual path: PATH)` when the name is relative to another directory. */
const backingLine = (name: string, full: string | undefined): string =>
  full === undefined || full === name ? `backing file: ${name}` : `backing file: ${name} (actual path: ${full})`

/** The human form, as `qemu-img info` prints it. */
export const renderInfoHuman = (info: InfoJson): string =>
  [
    `image: ${info.filename}`,
    `file format: ${info.format}`,
    `virtual size: ${sizeToString(info['virtual-size'])} (${info['virtual-size']} bytes)`,
    `disk size: ${sizeToString(info['actual-size'])}`,
    ...(info['cluster-size'] === undefined ? [] : [`cluster_size: ${info['cluster-size']}`]),
    ...(info['backing-filename'] === undefined ? [] : [backingLine(info['backing-filename'], info['full-backing-filename'])]),
    ...(info['backing-filename-format'] === undefined ? [] : [`backing file format: ${info['backing-filename-format']}`]),
    ...(info['format-specific'] === undefined ? [] : specificLines(info['format-specific'].data)),
  ]
    .map((line) => `${line}\n`)
    .join('')

interface InfoFlags {
  readonly format?: string
  readonly output: string
  readonly backingChain?: boolean
  readonly allowBackingPath?: boolean
}

/** A backing device reported as qcow2 is a qcow device. */
const asQcow = (device: BlockDevice<QcowError>): QcowDevice | undefined =>
  typeof (device as Partial<QcowDevice>).header === 'function' ? (device as QcowDevice) : undefined

/** The image and every layer below it, each named as qemu names it (relative to the layer above). */
const chainSources = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<InfoSource>> =>
  image.qcow === undefined
    ? TE.right([image])
    : pipe(
        image.qcow.backingChain(),
        TE.mapLeft(fromQcowError(image.path)),
        TE.map((chain) => {
          const sources: InfoSource[] = [image]
          for (const layer of chain) {
            const above = sources[sources.length - 1].path
            sources.push({
              path: combinePaths(above, layer.name ?? ''),
              format: layer.format,
              qcow: layer.format === 'qcow2' ? asQcow(layer.device) : undefined,
              sizeBytes: layer.sizeBytes,
            })
          }
          return sources
        }),
      )

/** `info --backing-chain`: every layer's info, top first (a JSON list; human blocks separated by a blank line). */
const chainInfo = (image: Image): TE.TaskEither<CliFailure, ReadonlyArray<InfoJson>> =>
  pipe(chainSources(image), TE.chain(TE.traverseSeqArray(imageInfo)))

const run = (ctx: CliContext, file: string, flags: InfoFlags): TE.TaskEither<CliFailure, number> =>
  pipe(
    TE.fromEither(decodeOutput(flags.output)),
    TE.bindTo('output'),
    TE.bind('format', () => TE.fromEither(orFail(decodeOptionalFormat(flags.format)))),
    TE.chain(({ output, format }) =>
      pipe(
        flags.backingChain === true
          ? pipe(
              openImage(file, { readOnly: true, allowBackingPath: flags.allowBackingPath === true, ...(format === undefined ? {} : { format }) }),
              withImage(chainInfo),
              TE.map((infos) => (output === 'json' ? qemuJson(infos) : infos.map(renderInfoHuman).join('\n'))),
            )
          : pipe(
              openImage(file, { withoutBacking: true, readOnly: true, ...(format === undefined ? {} : { format }) }),
              withImage(imageInfo),
              TE.map((info) => (output === 'json' ? qemuJson(info) : renderInfoHuman(info))),
            ),
        TE.map((text) => {
          ctx.console.out(text)
          return 0
        }),
      ),
    ),
  )

/** The `info` subcommand. */
export const infoCommand = (ctx: CliContext): Command =>
  new Command('info')
    .description('show an image\'s format, sizes and header facts')
    .argument('<file>', 'image file')
    .option('-f, --format <fmt>', 'image format (raw or qcow2); probed when absent')
    .option('--output <fmt>', 'human or json', 'human')
    .option('--backing-chain', 'also show every backing file below the image')
    .option('--allow-backing-path', 'with --backing-chain: allow backing files outside the image\'s directory')
    .action(async (file: string, flags: InfoFlags) => ctx.finish(await run(ctx, file, flags)()))
