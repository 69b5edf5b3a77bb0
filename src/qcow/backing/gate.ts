// Implicit-open gates: who decides whether a backing file named by an image header may be opened, and opens it.
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../block/device.js'
import { backingRefused, type QcowError } from '../errors.js'

/** How a backing file is to be opened. Chains open every backing file read-only. */
export interface BackingOpenMode {
  readonly readOnly: boolean
}

/** Opens the file a gate admitted (a path, a key in a map of devices, ...) as a raw block device. */
export type OpenBacking = (name: string, mode: BackingOpenMode) => TaskEither<QcowError, BlockDevice<QcowError>>

/**
 * The canonical identity of the file `name` designates (for files: the real path, links followed),
 * found without opening it: two names of one file give the same identity.
 */
export type IdentifyBacking = (name: string) => TaskEither<QcowError, string>

/** A backing name a gate accepted: the identity of the file it names and how to open it. */
export interface AdmittedBacking {
  /**
   * Identifies the file: the same key twice in one chain is a loop, refused before the second open.
   * Gates that can resolve names give a canonical identity (a real path), so `a` and `./a` are one
   * file; others give the name itself.
   */
  readonly key: string
  /** Opens the admitted file; nothing is opened before this is run. */
  readonly open: (mode: BackingOpenMode) => TaskEither<QcowError, BlockDevice<QcowError>>
}

/**
 * Decides about every backing file an image header names, and opens the ones it admits. The engine
 * never opens a backing name any other way.
 */
export interface BackingGate {
  /** Accepts `name` (returning how to open it) or refuses it with a typed error; opens nothing. */
  readonly admit: (name: string) => TaskEither<QcowError, AdmittedBacking>
  /**
   * Whether a backing file without a format in the header may be probed (a qcow2 magic makes it
   * qcow2). Without probing it is opened as raw: probing lets a raw guest disk pose as qcow2.
   */
  readonly probe: boolean
  /**
   * Optional: the key `admit` would give the file `name` designates, deciding and opening nothing;
   * relative names are taken as `admit` takes them. With the `imageName` option of create and
   * connect it identifies the image itself, so a chain that leads back to it is refused (`Loop`)
   * before the gate opens the image again.
   */
  readonly identify?: IdentifyBacking
}

/** Options shared by the gate constructors. */
export interface GateOptions {
  /** Allow format probing of backing files whose header gives no format (see `BackingGate.probe`). */
  readonly probe?: boolean
  /**
   * How `allowList` and `permissive` identify an admitted name (its `key`, and the gate's `identify`),
   * e.g. `fileIdentity` for names that are paths; without it a name is its own identity, so two
   * spellings of one file (`a`, `./a`) are caught only by the depth limit.
   */
  readonly identify?: IdentifyBacking
}

/** Admits `name`, keyed by `identify` when given (else by the name), opened with `open`. */
const admitted = (name: string, open: OpenBacking, identify: IdentifyBacking | undefined): TaskEither<QcowError, AdmittedBacking> =>
  TE.map((key: string): AdmittedBacking => ({ key, open: (mode) => open(name, mode) }))(identify === undefined ? TE.right(name) : identify(name))

/** The default gate: refuses every backing name with `BackingRefused` (rule `ImplicitOpenDenied`) naming the file. */
export const denyImplicitOpen: BackingGate = {
  admit: (name) =>
    TE.left(backingRefused(name, 'ImplicitOpenDenied', 'implicit opening of backing files is denied; pass a `backing` device or a gate that allows it')),
  probe: false,
}

/**
 * Admits exactly the listed names (compared byte for byte, no path resolution) and opens them with
 * `open`: the image-archive case, where a layer may reference `disk.img` and nothing else.
 */
export const allowList = (names: ReadonlyArray<string>, open: OpenBacking, options: GateOptions = {}): BackingGate => {
  const allowed = new Set(names)
  return {
    admit: (name) =>
      allowed.has(name) ? admitted(name, open, options.identify) : TE.left(backingRefused(name, 'NotAllowed', 'the name is not on the list of allowed backing files')),
    probe: options.probe === true,
    ...(options.identify === undefined ? {} : { identify: options.identify }),
  }
}

/**
 * Admits every name and opens it with `open`. UNSAFE for images from untrusted sources: their header
 * can name any file (`/etc/shadow`, `../../secret`, a device node) and make it readable through the
 * guest. Format probing is on unless `probe: false` is given.
 */
export const permissive = (open: OpenBacking, options: GateOptions = {}): BackingGate => ({
  admit: (name) => admitted(name, open, options.identify),
  probe: options.probe !== false,
  ...(options.identify === undefined ? {} : { identify: options.identify }),
})
