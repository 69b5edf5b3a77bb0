// Loads the qcow engine and FileBlock at run time, so the bench builds and reports "unavailable" before they exist.
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockModule } from '../../src/block/device.js'
import type { ConnectOptions, CreateOptions, QcowDevice } from '../../src/qcow/api.js'

/** The part of a `makeQcow(...)` result the bench uses. */
export interface QcowOps {
  create(base: BlockDevice<unknown>, options: CreateOptions): TaskEither<unknown, QcowDevice>
  connect(base: BlockDevice<unknown>, options?: ConnectOptions): TaskEither<unknown, QcowDevice>
}

/** `makeQcow` as the bench calls it. */
export type MakeQcow = (block: BlockModule<never, BlockDevice<unknown>, unknown>) => QcowOps

/** FileBlock's configuration. */
export interface FileConfig {
  readonly path: string
  readonly readOnly?: boolean
  readonly create?: boolean
}

/** The FileBlock module. */
export type FileModule = BlockModule<FileConfig, BlockDevice<unknown>, unknown>

/** What a load returns: the export, or why it is missing. */
export type Loaded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string }

const loadExport = async <A>(relative: string, name: string, isValid: (value: unknown) => boolean): Promise<Loaded<A>> => {
  try {
    const module: Record<string, unknown> = await import(new URL(relative, import.meta.url).href)
    const value = module[name]
    return isValid(value) ? { ok: true, value: value as A } : { ok: false, reason: `${relative} does not export ${name}` }
  } catch (cause) {
    return { ok: false, reason: `${relative} is not available (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})` }
  }
}

/** Loads `makeQcow` from the engine. */
export const loadMakeQcow = (): Promise<Loaded<MakeQcow>> =>
  loadExport('../../src/qcow/index.js', 'makeQcow', (value) => typeof value === 'function')

/** Loads the `FileBlock` module. */
export const loadFileBlock = (): Promise<Loaded<FileModule>> =>
  loadExport('../../src/file/index.js', 'FileBlock', (value) => typeof value === 'object' && value !== null && 'connect' in value)

/** Loads the `RamDisk` module. */
export const loadRamDisk = (): Promise<Loaded<BlockModule<{ size: number }, BlockDevice<unknown>, unknown>>> =>
  loadExport('../../src/ramdisk/index.js', 'RamDisk', (value) => typeof value === 'object' && value !== null && 'connect' in value)

/** The CLI's `main(argv, console)`, resolving to the exit code. */
export type CliMain = (argv: ReadonlyArray<string>, console: { out(text: string): void; err(text: string): void; progressStream: undefined }) => Promise<number>

/** Loads the CLI's `main`. */
export const loadCliMain = (): Promise<Loaded<CliMain>> => loadExport('../../src/cli/main.js', 'main', (value) => typeof value === 'function')
