// Image formats: the `-f`/`-O` values, decoded with io-ts, probing by the qcow2 magic, and the sector size.
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'

/** The formats the command reads and writes. */
export const FormatCodec = t.keyof({ raw: null, qcow2: null }, 'Format')
/** `raw` or `qcow2`. */
export type Format = t.TypeOf<typeof FormatCodec>

/** Decodes a `-f`/`-F`/`-O` value, or explains which formats are accepted. */
export const decodeFormat = (text: string): E.Either<string, Format> =>
  FormatCodec.is(text) ? E.right(text) : E.left(`unknown file format '${text}'; accepted: raw, qcow2`)

/** The sector size of every image the command opens (raw files and qcow2 disks alike). */
export const SECTOR = 512

/** `QFI\xfb`, the first four bytes of every qcow image. */
const QCOW_MAGIC = [0x51, 0x46, 0x49, 0xfb]

/** The format of an image from its first bytes: qcow2 when they carry the qcow magic, else raw. */
export const probeFormat = (firstBytes: Uint8Array): Format =>
  firstBytes.byteLength >= 4 && QCOW_MAGIC.every((b, i) => firstBytes[i] === b) ? 'qcow2' : 'raw'

/** Decodes an optional `-f`-style value: absent stays absent (the format is then probed). */
export const decodeOptionalFormat = (text: string | undefined): E.Either<string, Format | undefined> =>
  text === undefined ? E.right(undefined) : decodeFormat(text)
