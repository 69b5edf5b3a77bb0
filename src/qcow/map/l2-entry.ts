// Validation of standard L2 entries met at run time: what makes an entry corrupt.
import { COMPRESSED_HI, L2_RESERVED_HI, L2_RESERVED_LO, ZERO_LO, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'

/** Why a non-compressed L2 entry is invalid for this image, or undefined when it is fine. */
export const l2EntryProblem = (img: Image, hi: number, lo: number): string | undefined => {
  if ((hi & COMPRESSED_HI) !== 0) return undefined
  if ((hi & L2_RESERVED_HI) !== 0 || (lo & L2_RESERVED_LO) !== 0) return 'L2 entry has reserved bits set'
  if ((lo & ZERO_LO) !== 0 && img.header.version === 2) return 'L2 entry has the ZERO flag in a version 2 image'
  const offset = entryOffset(hi, lo)
  if (offset === 0) return undefined
  if (offset % img.g.clusterSize !== 0) return `data cluster offset ${offset} is not cluster aligned`
  if (offset >= img.io.sizeBytes) return `data cluster offset ${offset} lies past the end of the device`
  return undefined
}

