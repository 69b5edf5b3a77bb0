// Backing gates over the file system: confineTo (names resolved inside one directory, symlinks checked) and a read-only file opener.
import { realpath } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve as resolvePath, sep } from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import { ioError, type Io } from '../block/errors.js'
import type { BackingGate, GateOptions, IdentifyBacking, OpenBacking } from '../qcow/backing/gate.js'
import { relativeNameProblem } from '../qcow/backing/names.js'
import { backingRefused } from '../qcow/errors.js'
import { FileBlock } from './index.js'

/** Opens the file at `path` as a FileBlock (read-only unless `mode.readOnly` is false). */
export const openBackingFile: OpenBacking = (path, mode) => FileBlock.connect({ path, readOnly: mode.readOnly })

/** The real path of `path` (symbolic links followed), or an `Io` error (`NotFound` for a missing file). */
const resolve = async (path: string, operation: string): Promise<E.Either<Io, string>> => {
  try {
    return E.right(await realpath(path))
  } catch (cause) {
    return E.left(ioError(operation, cause, path))
  }
}

/**
 * The identity of a file name for gates over the file system: its real path (symbolic links and
 * `.`/`..` resolved, relative names from the working directory), or an `Io` error (`NotFound` for a
 * missing file). For `permissive(openBackingFile, { identify: fileIdentity })`.
 */
export const fileIdentity: IdentifyBacking = (path) => () => resolve(path, 'resolve backing file')

/** True when `target` lies inside `root` (both already resolved). */
const inside = (root: string, target: string): boolean => {
  const rel = relative(root, target)
  return rel !== '' && !isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`)
}

/**
 * Admits only relative backing names that resolve inside `directory`: absolute paths, `..` segments,
 * protocol and `json:` names are refused before the file system is touched, and a name whose real
 * path (symbolic links followed) leaves the directory is refused before it is opened. Admitted files
 * are opened by their real path with `open` (default: a FileBlock). A missing file gives `Io` with
 * kind `NotFound`. Every file of a chain is resolved in the same directory, and keyed by its real path;
 * `identify` gives the real path of any name taken from the directory (absolute ones as they are).
 */
export const confineTo = (directory: string, open: OpenBacking = openBackingFile, options: GateOptions = {}): BackingGate => ({
  identify: (name) => () => resolve(resolvePath(directory, name), 'resolve image file'),
  admit: (name) => async () => {
    const problem = relativeNameProblem(name)
    if (problem !== undefined) return E.left(problem)
    const root = await resolve(directory, 'resolve backing directory')
    if (E.isLeft(root)) return root
    const target = await resolve(join(root.right, name), 'resolve backing file')
    if (E.isLeft(target)) return target
    if (!inside(root.right, target.right)) {
      return E.left(backingRefused(name, 'OutsideDirectory', `it resolves to ${JSON.stringify(target.right)}, outside ${JSON.stringify(root.right)}`))
    }
    const path = target.right
    return E.right({ key: path, open: (mode) => open(path, mode) })
  },
  probe: options.probe === true,
})
