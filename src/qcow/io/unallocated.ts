// What guest bytes that this image does not allocate read as: zeroes today, a backing device later.
import { zeroFill } from '../../block/buffers.js'

/** The layer below an image: the source of every guest byte the image leaves unallocated. */
export interface LowerLayer {
  /** True when every such byte is zero, which lets writes skip reading it. */
  readonly allZero: boolean
  /** Fills bytes `[at, at + length)` of `buffers` with guest bytes `[guestOffset, guestOffset + length)`. */
  read(guestOffset: number, buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Promise<void>
}

/** No backing device: unallocated bytes read as zeroes. */
export const zeroLayer: LowerLayer = {
  allZero: true,
  read: async (_guestOffset, buffers, at, length) => zeroFill(buffers, at, length),
}

/** The one place reads and writes fetch unallocated guest bytes; a backing file redirects `lower`. */
export const readUnallocated = (
  lower: LowerLayer,
  guestOffset: number,
  buffers: ReadonlyArray<Uint8Array>,
  at: number,
  length: number,
): Promise<void> => lower.read(guestOffset, buffers, at, length)
