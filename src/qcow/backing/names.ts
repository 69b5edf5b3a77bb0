// The pure part of confining backing names to one directory: which names may be resolved there at all.
import { backingRefused, type BackingRefused } from '../errors.js'

/** A protocol or pseudo-protocol prefix such as `json:`, `nbd:`, `file:` or a Windows drive `C:`, before any slash. */
const PROTOCOL = /^[^/\\]*:/

/**
 * Checks that `name` is a plain relative path that stays inside the directory it is resolved in:
 * refuses empty names, NUL bytes, absolute paths, protocol and `json:` names, and `..` segments.
 * Symbolic links are the caller's to check once the name is resolved.
 */
export const relativeNameProblem = (name: string): BackingRefused | undefined => {
  if (name.length === 0 || name.includes('\0')) return backingRefused(name, 'NotAllowed', 'the name is empty or contains a NUL byte')
  if (name.startsWith('/') || name.startsWith('\\')) return backingRefused(name, 'AbsolutePath', 'absolute backing paths are not allowed')
  if (PROTOCOL.test(name)) return backingRefused(name, 'Protocol', 'protocol and json: backing names are not allowed')
  if (name.split(/[/\\]/).includes('..')) return backingRefused(name, 'ParentEscape', 'backing names may not contain `..`')
  return undefined
}
