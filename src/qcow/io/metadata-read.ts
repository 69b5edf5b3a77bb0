// Reading metadata regions from the base device during open and rebuild, with QEMU's placement checks.
import * as E from 'fp-ts/lib/Either.js'
import { invalidImage } from '../errors.js'
import { MAX_SNAPSHOTS } from '../format/constants.js'
import type { ParsedHeader } from '../format/header.js'
import { decodeSnapshots, snapshotTableReadBytes, type SnapshotTable } from '../format/snapshots.js'
import { BASE_SECTOR, type BaseIo } from './base-io.js'
import { fail } from './fault.js'

/** Fails with InvalidImage(`reason`) unless `ok`. */
export const check = (ok: boolean, reason: string): void => {
  if (!ok) fail(invalidImage(reason))
}

/** Validates a table's placement: cluster aligned, inside 2^53 and starting inside the device. */
export const checkTable = (what: string, offset: number, bytes: number, clusterSize: number, deviceBytes: number): void => {
  check(offset % clusterSize === 0, `${what} offset ${offset} is not cluster aligned`)
  check(offset + bytes <= Number.MAX_SAFE_INTEGER, `${what} ends past 2^53`)
  if (bytes > 0) {
    check(offset !== 0, `${what} at offset 0 overlaps the header`)
    check(offset < deviceBytes, `${what} at offset ${offset} lies past the end of the ${deviceBytes}-byte device`)
  }
}

/** Reads `length` bytes at `offset` (whole sectors are read; bytes past the device end read as zeroes). */
export const readBytes = async (io: BaseIo, offset: number, length: number): Promise<Uint8Array> => {
  const bytes = new Uint8Array(Math.ceil(length / BASE_SECTOR) * BASE_SECTOR)
  await io.read(offset, bytes)
  return length === bytes.byteLength ? bytes : bytes.subarray(0, length)
}

/** Reads and validates the snapshot table (only each snapshot's L1 location is kept). */
export const readSnapshots = async (io: BaseIo, h: ParsedHeader): Promise<SnapshotTable> => {
  check(h.nbSnapshots <= MAX_SNAPSHOTS, `${h.nbSnapshots} snapshots exceed QEMU's limit of ${MAX_SNAPSHOTS}`)
  checkTable('snapshot table', h.snapshotsOffset, h.nbSnapshots > 0 ? 40 : 0, h.clusterSize, io.sizeBytes)
  if (h.nbSnapshots === 0) return { snapshots: [], tableBytes: 0 }
  const length = Math.min(snapshotTableReadBytes(h.nbSnapshots), io.sizeBytes - h.snapshotsOffset)
  const bytes = await readBytes(io, h.snapshotsOffset, length)
  const decoded = decodeSnapshots(bytes, h.nbSnapshots, h.clusterSize)
  return E.isLeft(decoded) ? fail(decoded.left) : decoded.right
}
