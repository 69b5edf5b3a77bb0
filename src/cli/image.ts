// Opening and creating the images a command names: raw files through FileBlock, qcow2 through makeQcow.
import { basename, dirname, isAbsolute, join } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { confineTo, fileIdentity, FileBlock, makeQcow, openBackingFile, type BackingGate, type BackingOpenMode, type BlockDevice, type CreateOptions, type FileBlockDevice, type QcowDevice, type QcowError } from '../index.js'
import { deferredFile } from './deferred-file.js'
import { failure, fromQcowError, type CliFailure } from './failure.js'
import { probeFormat, SECTOR, type Format } from './format.js'
import type { ImageOptions } from './options.js'

/** Creates and opens qcow2 images stored in files. */
const Qcow2Files = makeQcow(FileBlock)

/** An open image: its virtual disk as a block device of 512-byte sectors, and what it is stored as. */
export interface Image {
  /** The path as the user gave it (used in messages and JSON `filename`). */
  readonly path: string
  readonly format: Format
  /** The virtual disk (the file itself for raw images). */
  readonly disk: BlockDevice<QcowError>
  /** The qcow2 device, for qcow2 images. */
  readonly qcow: QcowDevice | undefined
  /** The file the image is stored in (the same device as `disk` for raw images). */
  readonly file: FileBlockDevice
  /** Virtual size in bytes. */
  readonly sizeBytes: number
  /** Whether writes are allowed. */
  readonly writable: boolean
}

/** Opening choices: a format (probed when absent) and read-only access. */
export interface OpenChoices {
  readonly format?: Format
  readonly readOnly: boolean
  /**
   * Leave a qcow2 image's backing file closed (its unallocated clusters then read as zeroes): for
   * commands that only look at the image's own metadata. Otherwise the backing chain is opened with
   * every name confined to the image's own directory.
   */
  readonly withoutBacking?: boolean
  /** Open a qcow2 image marked corrupt read-write so that it can be repaired (`check -r`). */
  readonly forRepair?: boolean
  /** `--allow-backing-path`: open any backing name (absolute, `..`), not only files inside the image's directory. */
  readonly allowBackingPath?: boolean
}

/**
 * `--allow-backing-path`: admits every name, each relative one taken, as qemu takes it, from the
 * directory of the image that records it. The engine admits a chain's names top down, each after
 * the layer above is open, so the directory of the last admitted file is that of the next name's image.
 * Files are keyed by their real path, so a chain that comes back by another spelling is a loop.
 */
const followingGate = (imagePath: string): BackingGate => {
  let directory = dirname(imagePath)
  return {
    admit: (name) => {
      const path = isAbsolute(name) ? name : join(directory, name)
      directory = dirname(path)
      return TE.map((key: string) => ({ key, open: (mode: BackingOpenMode) => openBackingFile(path, mode) }))(fileIdentity(path))
    },
    identify: (name) => fileIdentity(isAbsolute(name) ? name : join(dirname(imagePath), name)),
    probe: false,
  }
}

/** What the engine needs to open the backing chain of the image at `path`: the gate, and the image's own name for loop checks. */
const chainOptions = (path: string, allowPath: boolean): { readonly gate: BackingGate; readonly imageName: string } => ({
  gate: backingGate(path, allowPath),
  imageName: basename(path),
})

/**
 * The gate through which the backing files of the image at `imagePath` are opened: names confined to
 * the image's directory, or with `allowPath` any name.
 */
export const backingGate = (imagePath: string, allowPath: boolean): BackingGate =>
  allowPath ? followingGate(imagePath) : confineTo(dirname(imagePath))

const sizeOf = (path: string, device: BlockDevice<QcowError>): TE.TaskEither<CliFailure, number> =>
  pipe(
    device.getInfo(),
    TE.map((info) => info.sizeSectors * info.sectorSize),
    TE.mapLeft(fromQcowError(path)),
  )

const probe = (path: string, file: FileBlockDevice): TE.TaskEither<CliFailure, Format> =>
  pipe(
    file.getInfo(),
    TE.chain((info) => {
      if (info.sizeSectors === 0) return TE.right<QcowError, Format>('raw')
      const first = new Uint8Array(info.sectorSize)
      return pipe(
        file.read(0, [first]),
        TE.map(() => probeFormat(first)),
      )
    }),
    TE.mapLeft(fromQcowError(path)),
  )

const disconnectQuietly = (device: BlockDevice<QcowError>): TE.TaskEither<never, void> =>
  pipe(
    device.disconnect(),
    TE.orElseW(() => TE.right(undefined)),
  )

/** On failure, disconnects `device` (ignoring errors) and keeps the first failure. */
const releaseOnFailure =
  (device: BlockDevice<QcowError>) =>
  <A>(ma: TE.TaskEither<CliFailure, A>): TE.TaskEither<CliFailure, A> =>
    pipe(
      ma,
      TE.orElse((f) => pipe(disconnectQuietly(device), TE.chain(() => TE.left<CliFailure, A>(f)))),
    )

const wrap = (path: string, format: Format, file: FileBlockDevice, choices: OpenChoices): TE.TaskEither<CliFailure, Image> => {
  const { readOnly } = choices
  const repairCorrupt = choices.forRepair === true
  if (format === 'raw') {
    return pipe(
      sizeOf(path, file),
      TE.map((sizeBytes) => ({ path, format, disk: file, qcow: undefined, file, sizeBytes, writable: !readOnly })),
    )
  }
  return pipe(
    Qcow2Files.connect(file, choices.withoutBacking === true ? { readOnly, repairCorrupt, backing: null } : { readOnly, repairCorrupt, ...chainOptions(path, choices.allowBackingPath === true) }),
    TE.mapLeft(fromQcowError(path)),
    releaseOnFailure(file),
    TE.chain((qcow) =>
      pipe(
        sizeOf(path, qcow),
        TE.map((sizeBytes) => ({ path, format, disk: qcow, qcow, file, sizeBytes, writable: !readOnly })),
      ),
    ),
  )
}

/** Opens an existing image; without a format, qcow2 is recognised by its magic and anything else is raw. */
export const openImage = (path: string, choices: OpenChoices): TE.TaskEither<CliFailure, Image> =>
  pipe(
    FileBlock.connect({ path, readOnly: choices.readOnly }),
    TE.mapLeft(fromQcowError(path)),
    TE.chain((file) =>
      pipe(
        choices.format === undefined ? probe(path, file) : TE.right<CliFailure, Format>(choices.format),
        releaseOnFailure(file),
        TE.chain((format) => wrap(path, format, file, choices)),
      ),
    ),
  )

const truncate = (path: string, file: FileBlockDevice, sizeSectors: number): TE.TaskEither<CliFailure, void> =>
  file.resize === undefined
    ? TE.left(failure('the file device cannot be resized', path))
    : pipe(file.resize(sizeSectors), TE.mapLeft(fromQcowError(path)))

/** The most a new raw file gets allocated at its start: one file-system block. */
const FIRST_BLOCK = 4096

/**
 * Writes zeroes over the start of a new raw file of `sizeBytes` bytes (a block, or a sector when the
 * file is smaller), as qemu-img does so that the file's first block is allocated: maps and
 * `compare -s` of the files both create then agree.
 */
const allocateFirstBlock = (path: string, file: FileBlockDevice, sizeBytes: number): TE.TaskEither<CliFailure, void> =>
  sizeBytes === 0 ? TE.right(undefined) : pipe(file.writeZeroes(0, (sizeBytes < FIRST_BLOCK ? SECTOR : FIRST_BLOCK) / SECTOR), TE.mapLeft(fromQcowError(path)))

/** A backing file for a new qcow2 image: its name (relative to the new image's directory) and format. */
export interface NewBacking {
  readonly file: string
  readonly format: Format
  /** `-u`: record the name without opening the file (the size must then be given). */
  readonly unsafe: boolean
  readonly allowPath: boolean
}

/**
 * Refuses, before anything is touched, a backing name that designates the image file itself (qemu-img
 * refuses the same name; this compares real paths). Names that do not resolve are left to the gate.
 * Returns whether the image file exists.
 */
const notItsOwnBacking = (path: string, backing: NewBacking | undefined): TE.TaskEither<CliFailure, boolean> => {
  const named = backing === undefined ? undefined : isAbsolute(backing.file) ? backing.file : join(dirname(path), backing.file)
  return async () => {
    const [image, target] = await Promise.all([fileIdentity(path)(), named === undefined ? Promise.resolve(undefined) : fileIdentity(named)()])
    const same = image._tag === 'Right' && target?._tag === 'Right' && image.right === target.right
    return same ? E.left(failure('Error: Trying to create an image with the same filename as the backing file', path)) : E.right(image._tag === 'Right')
  }
}

/**
 * Where a new image's backing comes from: none, the name recorded unopened (`-u`), or the name opened
 * through the gate; an existing image file is named to the gate so that a chain leading back to it
 * is a loop (a file yet to be made cannot be in the chain).
 */
const newBackingOptions = (path: string, backing: NewBacking | undefined, exists: boolean): Partial<CreateOptions> => {
  if (backing === undefined) return {}
  const named = { backingFile: backing.file, backingFormat: backing.format }
  if (backing.unsafe) return { ...named, backing: null }
  const { gate, imageName } = chainOptions(path, backing.allowPath)
  return { ...named, gate, ...(exists ? { imageName } : {}) }
}

/**
 * Creates (or overwrites) an image of `sizeBytes` bytes, a multiple of 512, and returns it open
 * read-write. A raw image is a sparse file of that size; a qcow2 image is empty. A qcow2 image may
 * have a backing file, whose size is the default (`sizeBytes` undefined), but not itself. The file is
 * created or emptied only once the backing is open, as qemu-img does: a backing that cannot be
 * opened leaves an existing file intact and makes no new one.
 */
export const createImage = (
  path: string,
  format: Format,
  sizeBytes: number | undefined,
  options: ImageOptions,
  backing?: NewBacking,
): TE.TaskEither<CliFailure, Image> =>
  pipe(
    notItsOwnBacking(path, backing),
    TE.chain((exists) => {
      const file = deferredFile(path)
      return pipe(
        format === 'raw'
          ? pipe(
              truncate(path, file, (sizeBytes ?? 0) / SECTOR),
              TE.chain(() => allocateFirstBlock(path, file, sizeBytes ?? 0)),
              TE.map((): Image => ({ path, format, disk: file, qcow: undefined, file, sizeBytes: sizeBytes ?? 0, writable: true })),
            )
          : pipe(
              Qcow2Files.create(file, {
                ...(sizeBytes === undefined ? {} : { size: sizeBytes }),
                ...newBackingOptions(path, backing, exists),
                ...(options.clusterSize === undefined ? {} : { clusterSize: options.clusterSize }),
                ...(options.compat === undefined ? {} : { compat: options.compat }),
                ...(options.refcountBits === undefined ? {} : { refcountBits: options.refcountBits }),
                ...(options.lazyRefcounts === undefined ? {} : { lazyRefcounts: options.lazyRefcounts }),
              }),
              TE.mapLeft(fromQcowError(path)),
              TE.chain((qcow) =>
                pipe(
                  sizeOf(path, qcow),
                  TE.map((size): Image => ({ path, format, disk: qcow, qcow, file, sizeBytes: size, writable: true })),
                ),
              ),
            ),
        releaseOnFailure(file),
      )
    }),
  )

/** Flushes (when writable) and disconnects an image, then its file (a qcow2 device leaves its base open). */
export const closeImage = (image: Image): TE.TaskEither<CliFailure, void> =>
  pipe(
    image.writable ? image.disk.flush() : TE.right(undefined),
    TE.chain(() => image.disk.disconnect()),
    TE.chain(() => (image.qcow === undefined ? TE.right(undefined) : image.file.disconnect())),
    TE.mapLeft(fromQcowError(image.path)),
    releaseOnFailure(image.file),
  )

/** Runs `use` on an open image and closes it afterwards, whether `use` failed or not. */
export const withImage =
  <A>(use: (image: Image) => TE.TaskEither<CliFailure, A>) =>
  (opened: TE.TaskEither<CliFailure, Image>): TE.TaskEither<CliFailure, A> =>
    pipe(
      opened,
      TE.chain((image) =>
        pipe(
          use(image),
          TE.matchEW(
            (f) => pipe(closeImage(image), TE.matchEW(() => TE.left(f), () => TE.left(f))),
            (a) => pipe(closeImage(image), TE.map(() => a)),
          ),
        ),
      ),
    )

/** A backing device opened for `rebase`, with what closes it. */
export interface OpenedBacking {
  readonly device: BlockDevice<QcowError>
  readonly format: Format
  readonly close: TE.TaskEither<CliFailure, void>
}

/**
 * Opens `name` (relative to the directory of the image at `imagePath`) read-only as a new backing,
 * after the same gate that guards implicit opens admits it.
 */
export const openNewBacking = (imagePath: string, name: string, format: Format, allowPath: boolean): TE.TaskEither<CliFailure, OpenedBacking> => {
  const gate = backingGate(imagePath, allowPath)
  const path = isAbsolute(name) ? name : join(dirname(imagePath), name)
  return pipe(
    gate.admit(name),
    TE.mapLeft(fromQcowError(imagePath)),
    TE.chain(() => openImage(path, { readOnly: true, allowBackingPath: allowPath, format })),
    TE.map((image) => ({ device: image.disk, format: image.format, close: closeImage(image) })),
  )
}
