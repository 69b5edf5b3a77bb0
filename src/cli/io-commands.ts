// The qemu-io command language `qcow io -c` accepts: parsing `read`, `write`, `discard` and `flush`.
import * as E from 'fp-ts/lib/Either.js'
import { parseSize } from './size.js'

/** `read [-P pattern] [-q] OFF LEN`: reads, and with a pattern checks every byte. */
export interface ReadCommand { readonly op: 'read'; readonly offset: number; readonly length: number; readonly pattern?: number; readonly quiet: boolean }
/** `write [-P pattern] [-q] OFF LEN` (pattern 0xcd by default) or `write -z [-u] [-q] OFF LEN`. */
export interface WriteCommand {
  readonly op: 'write'
  readonly offset: number
  readonly length: number
  /** The byte written, or 'zero' for `-z` (zero write without data). */
  readonly fill: number | 'zero'
  readonly unmap: boolean
  readonly quiet: boolean
}
/** `discard [-q] OFF LEN`. */
export interface DiscardCommand { readonly op: 'discard'; readonly offset: number; readonly length: number; readonly quiet: boolean }
/** `flush`. */
export interface FlushCommand { readonly op: 'flush' }
/** One parsed `-c` command. */
export type IoCommand = ReadCommand | WriteCommand | DiscardCommand | FlushCommand

/** qemu-io's default write pattern. */
export const DEFAULT_WRITE_PATTERN = 0xcd

/** A pattern byte as qemu-io reads it (decimal, 0x hex or 0 octal), from 0 to 255. */
export const parsePattern = (text: string): E.Either<string, number> => {
  const n = /^0x[0-9a-f]+$/i.test(text)
    ? parseInt(text.slice(2), 16)
    : /^0[0-7]+$/.test(text)
      ? parseInt(text, 8)
      : /^[0-9]+$/.test(text)
        ? Number(text)
        : NaN
  return Number.isInteger(n) && n >= 0 && n <= 255 ? E.right(n) : E.left(`${text} is not a valid pattern byte (0 to 255, or 0x00 to 0xff)`)
}

interface Flags {
  readonly pattern?: number
  readonly zero: boolean
  readonly unmap: boolean
  readonly quiet: boolean
}

const ALLOWED: Readonly<Record<string, string>> = { read: 'Pq', write: 'Pzuq', discard: 'q' }

const parseFlags = (name: string, words: ReadonlyArray<string>): E.Either<string, { flags: Flags; rest: ReadonlyArray<string> }> => {
  let flags: Flags = { zero: false, unmap: false, quiet: false }
  let i = 0
  for (; i < words.length && words[i].startsWith('-') && words[i].length > 1; i++) {
    const letter = words[i].slice(1)
    if (letter.length !== 1 || !ALLOWED[name].includes(letter)) return E.left(`${name}: unknown option '${words[i]}'; accepted: ${[...ALLOWED[name]].map((l) => `-${l}`).join(' ')}`)
    if (letter === 'P') {
      const value = words[++i]
      if (value === undefined) return E.left(`${name}: -P needs a pattern byte`)
      const pattern = parsePattern(value)
      if (E.isLeft(pattern)) return pattern
      flags = { ...flags, pattern: pattern.right }
    } else if (letter === 'z') flags = { ...flags, zero: true }
    else if (letter === 'u') flags = { ...flags, unmap: true }
    else flags = { ...flags, quiet: true }
  }
  return E.right({ flags, rest: words.slice(i) })
}

const parseOffsetLength = (name: string, rest: ReadonlyArray<string>): E.Either<string, { offset: number; length: number }> => {
  if (rest.length !== 2) return E.left(`bad argument count ${rest.length} to ${name}, expected OFFSET and LENGTH`)
  const offset = parseSize(rest[0])
  if (E.isLeft(offset)) return E.left(`${name}: offset: ${offset.left}`)
  const length = parseSize(rest[1])
  if (E.isLeft(length)) return E.left(`${name}: length: ${length.left}`)
  return E.right({ offset: offset.right, length: length.right })
}

/** Parses one `-c` command. */
export const parseIoCommand = (text: string): E.Either<string, IoCommand> => {
  const words = text.trim().split(/\s+/).filter((w) => w !== '')
  const name = words[0] ?? ''
  if (name === 'flush') return words.length === 1 ? E.right({ op: 'flush' }) : E.left('flush takes no arguments')
  if (!(name in ALLOWED)) return E.left(`command "${name}" not found; accepted: read, write, discard, flush`)
  const parsed = parseFlags(name, words.slice(1))
  if (E.isLeft(parsed)) return parsed
  const { flags, rest } = parsed.right
  const place = parseOffsetLength(name, rest)
  if (E.isLeft(place)) return place
  const { offset, length } = place.right
  if (name === 'read') return E.right({ op: 'read', offset, length, quiet: flags.quiet, ...(flags.pattern === undefined ? {} : { pattern: flags.pattern }) })
  if (name === 'discard') return E.right({ op: 'discard', offset, length, quiet: flags.quiet })
  if (flags.zero && flags.pattern !== undefined) return E.left('write: -z and -P cannot be combined')
  if (flags.unmap && !flags.zero) return E.left('write: -u needs -z')
  return E.right({ op: 'write', offset, length, fill: flags.zero ? 'zero' : (flags.pattern ?? DEFAULT_WRITE_PATTERN), unmap: flags.unmap, quiet: flags.quiet })
}
