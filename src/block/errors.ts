// The BlockError union shared by every device, and its rendering as one sentence.

/** The kind of an I/O failure, derived from the operating system's error code where there is one. */
export type IoKind = 'NotFound' | 'PermissionDenied' | 'IsDirectory' | 'NoSpace' | 'Failure'

/** The device was disconnected; every call after `disconnect` fails with this. */
export interface Disconnected { readonly _tag: 'Disconnected' }
/** A write, discard, zero write or resize was attempted on a read-only device. */
export interface ReadOnly { readonly _tag: 'ReadOnly'; readonly operation: string }
/** A request names sectors outside the device, or a sector number that is not a safe non-negative integer. */
export interface OutOfRange {
  readonly _tag: 'OutOfRange'
  readonly sector: number
  readonly sectors: number
  readonly sizeSectors: number
  readonly reason: string
}
/** A buffer or byte size is not a whole number of sectors. */
export interface Misaligned { readonly _tag: 'Misaligned'; readonly reason: string }
/** The device does not offer an optional operation, or a value it cannot support. */
export interface Unsupported { readonly _tag: 'Unsupported'; readonly operation: string; readonly reason?: string }
/** The underlying storage failed. */
export interface Io {
  readonly _tag: 'Io'
  readonly kind: IoKind
  readonly operation: string
  readonly message: string
  readonly path?: string
  readonly code?: string
}

/** Every error a plain block device can return. */
export type BlockError = Disconnected | ReadOnly | OutOfRange | Misaligned | Unsupported | Io

/** Builds a `Disconnected` error. */
export const disconnected = (): Disconnected => ({ _tag: 'Disconnected' })
/** Builds a `ReadOnly` error for the named operation. */
export const readOnlyError = (operation: string): ReadOnly => ({ _tag: 'ReadOnly', operation })
/** Builds an `OutOfRange` error. */
export const outOfRange = (sector: number, sectors: number, sizeSectors: number, reason: string): OutOfRange => ({
  _tag: 'OutOfRange',
  sector,
  sectors,
  sizeSectors,
  reason,
})
/** Builds a `Misaligned` error. */
export const misaligned = (reason: string): Misaligned => ({ _tag: 'Misaligned', reason })
/** Builds an `Unsupported` error. */
export const unsupported = (operation: string, reason?: string): Unsupported =>
  reason === undefined ? { _tag: 'Unsupported', operation } : { _tag: 'Unsupported', operation, reason }

const ioKindOf = (code: string | undefined): IoKind => {
  switch (code) {
    case 'ENOENT':
      return 'NotFound'
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'PermissionDenied'
    case 'EISDIR':
      return 'IsDirectory'
    case 'ENOSPC':
    case 'EFBIG':
      return 'NoSpace'
    default:
      return 'Failure'
  }
}

/** Builds an `Io` error from anything a failed operation threw or rejected with. */
export const ioError = (operation: string, cause: unknown, path?: string): Io => {
  const code =
    typeof cause === 'object' && cause !== null && typeof (cause as { code?: unknown }).code === 'string'
      ? (cause as { code: string }).code
      : undefined
  const message = cause instanceof Error ? cause.message : String(cause)
  return {
    _tag: 'Io',
    kind: ioKindOf(code),
    operation,
    message,
    ...(path === undefined ? {} : { path }),
    ...(code === undefined ? {} : { code }),
  }
}

const ioSentence = (e: Io): string => {
  const where = e.path === undefined ? '' : ` on ${e.path}`
  switch (e.kind) {
    case 'NotFound':
      return `${e.operation} failed${where}: no such file or directory`
    case 'PermissionDenied':
      return `${e.operation} failed${where}: permission denied`
    case 'IsDirectory':
      return `${e.operation} failed${where}: it is a directory, not a file`
    case 'NoSpace':
      return `${e.operation} failed${where}: no space left on the device`
    case 'Failure':
      return `${e.operation} failed${where}: ${e.message}`
  }
}

/** Renders any `BlockError` as one readable sentence. */
export const describeBlockError = (e: BlockError): string => {
  switch (e._tag) {
    case 'Disconnected':
      return 'The device is disconnected.'
    case 'ReadOnly':
      return `Cannot ${e.operation}: the device is read-only.`
    case 'OutOfRange':
      return `Request for ${e.sectors} sector(s) at sector ${e.sector} is out of range (device has ${e.sizeSectors} sectors): ${e.reason}.`
    case 'Misaligned':
      return `Misaligned request: ${e.reason}.`
    case 'Unsupported':
      return `The device does not support ${e.operation}${e.reason === undefined ? '' : `: ${e.reason}`}.`
    case 'Io':
      return `I/O error: ${ioSentence(e)}.`
  }
}
