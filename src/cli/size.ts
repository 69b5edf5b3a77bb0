// Size strings as qemu-img reads them: plain bytes, 0x hex, or a number with a k/M/G/T/P/E suffix.
import * as E from 'fp-ts/lib/Either.js'

/** The largest size the library handles exactly: 2^53 - 1 bytes (just under 8 PiB). */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER

const SUFFIXES: Readonly<Record<string, number>> = {
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
  e: 2 ** 60,
}

const SIZE_PATTERN = /^\s*(?:0x([0-9a-fA-F]+)|([0-9]+)(?:\.([0-9]+))?)([bBkKmMgGtTpPeE])?$/

const invalid = (text: string): string =>
  `invalid size '${text}': give bytes, or a number with a k, M, G, T, P or E suffix (powers of 1024), ` +
  `from 0 to ${MAX_SIZE} bytes`

/**
 * Parses a size in bytes like qemu's `qemu_strtosz`: `4096`, `0x1000`, `64k`, `1.5G`. A fraction
 * needs a suffix; the fractional bytes are truncated. Sizes above `MAX_SIZE` are refused.
 */
export const parseSize = (text: string): E.Either<string, number> => {
  const m = SIZE_PATTERN.exec(text)
  if (m === null) return E.left(invalid(text))
  const [, hex, whole, fraction, suffix] = m
  if (fraction !== undefined && suffix === undefined) return E.left(invalid(text))
  const unit = suffix === undefined ? 1 : SUFFIXES[suffix.toLowerCase()]
  const integer = hex !== undefined ? parseInt(hex, 16) : Number(whole)
  const fractional = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * unit)
  const bytes = integer * unit + fractional
  return Number.isSafeInteger(bytes) ? E.right(bytes) : E.left(invalid(text))
}

/** Rounds a byte count up to a whole number of 512-byte sectors, as qemu-img create does. */
export const roundUpToSector = (bytes: number): number => Math.ceil(bytes / 512) * 512

/** A relative or absolute size for `resize`: `+1G`, `-64k` or `10G`. */
export type SizeChange = { readonly kind: 'absolute' | 'grow' | 'shrink'; readonly bytes: number }

/** Parses `resize`'s SIZE argument, with an optional leading `+` or `-`. */
export const parseSizeChange = (text: string): E.Either<string, SizeChange> => {
  const kind: SizeChange['kind'] = text.startsWith('+') ? 'grow' : text.startsWith('-') ? 'shrink' : 'absolute'
  const body = kind === 'absolute' ? text : text.slice(1)
  return E.map((bytes: number): SizeChange => ({ kind, bytes }))(parseSize(body))
}

/** The new size a change gives from `current`, or a sentence when it would be negative or too large. */
export const applySizeChange = (current: number, change: SizeChange): E.Either<string, number> => {
  const target =
    change.kind === 'absolute' ? change.bytes : change.kind === 'grow' ? current + change.bytes : current - change.bytes
  if (target < 0) return E.left(`the new size would be negative (current size ${current} bytes)`)
  if (!Number.isSafeInteger(target)) return E.left(`the new size must be at most ${MAX_SIZE} bytes`)
  return E.right(target)
}
