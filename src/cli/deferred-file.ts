// The file of an image being created: created or emptied only on its first use, so a create that fails first leaves it untouched.
import * as E from 'fp-ts/lib/Either.js'
import { pipe } from 'fp-ts/lib/function.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { FileBlock, type BlockError, type BlockInfo, type FileBlockDevice } from '../index.js'

class DeferredFile implements FileBlockDevice {
  private opening: Promise<E.Either<BlockError, FileBlockDevice>> | undefined

  constructor(readonly path: string) {}

  getInfo(): TE.TaskEither<BlockError, BlockInfo> {
    return this.via((f) => f.getInfo())
  }

  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return this.via((f) => f.read(sector, buffers))
  }

  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TE.TaskEither<BlockError, void> {
    return this.via((f) => f.write(sector, buffers))
  }

  writeZeroes(sector: number, sectors: number): TE.TaskEither<BlockError, void> {
    return this.via((f) => f.writeZeroes(sector, sectors))
  }

  resize(sizeSectors: number): TE.TaskEither<BlockError, void> {
    return this.via((f) => f.resize(sizeSectors))
  }

  seekMapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.via((f) => f.seekMapped(fromSector))
  }

  seekUnmapped(fromSector: number): TE.TaskEither<BlockError, number> {
    return this.via((f) => f.seekUnmapped(fromSector))
  }

  byteLength(): TE.TaskEither<BlockError, number> {
    return this.via((f) => f.byteLength())
  }

  flush(): TE.TaskEither<BlockError, void> {
    return this.via((f) => f.flush())
  }

  /** Closes the file when it was opened; a file never used was never created. */
  disconnect(): TE.TaskEither<BlockError, void> {
    return this.opening === undefined ? TE.right(undefined) : this.via((f) => f.disconnect())
  }

  private via<A>(use: (file: FileBlockDevice) => TE.TaskEither<BlockError, A>): TE.TaskEither<BlockError, A> {
    return pipe(() => this.open(), TE.chain(use))
  }

  /** Creates the file, or empties the existing one, once. */
  private open(): Promise<E.Either<BlockError, FileBlockDevice>> {
    this.opening ??= (async () => {
      const connected = await FileBlock.connect({ path: this.path, create: true })()
      if (E.isLeft(connected)) return connected
      const emptied = await connected.right.resize(0)()
      if (E.isRight(emptied)) return connected
      await connected.right.disconnect()()
      return emptied
    })()
    return this.opening
  }
}

/**
 * The file device of an image to be created at `path`: the file is created, or an existing one
 * emptied, on the first call of any method, so a command that fails before it writes (a backing
 * file that cannot be opened, refused options) leaves an existing file intact and makes no new one.
 * `disconnect` of a file never used does nothing.
 */
export const deferredFile = (path: string): FileBlockDevice => new DeferredFile(path)
