// The snapshot table: decoding entries (only what the engine needs: each snapshot's L1 table) with QEMU's limits.
import * as E from 'fp-ts/lib/Either.js'
import { invalidImage, type QcowError } from '../errors.js'
import { MAX_L1_BYTES, MAX_SNAPSHOT_EXTRA_DATA, MAX_SNAPSHOT_TABLE_BYTES } from './constants.js'

/** One snapshot's L1 table. */
export interface SnapshotRef {
  readonly l1TableOffset: number
  readonly l1Size: number
}

/** Size of the fixed part of a snapshot entry. */
const ENTRY_HEADER = 40
/** The largest one entry can be. */
const MAX_SNAPSHOT_ENTRY_BYTES = ENTRY_HEADER + MAX_SNAPSHOT_EXTRA_DATA + 2 * 65535 + 7

/** Bytes to read to be sure to hold `count` entries, never more than QEMU's table limit. */
export const snapshotTableReadBytes = (count: number): number => Math.min(MAX_SNAPSHOT_TABLE_BYTES, count * MAX_SNAPSHOT_ENTRY_BYTES)

/** The decoded table: each snapshot's L1 table and the table's own length in bytes. */
export interface SnapshotTable {
  readonly snapshots: ReadonlyArray<SnapshotRef>
  readonly tableBytes: number
}

/** Decodes `count` snapshot entries from `bytes` (the table and maybe bytes after it). */
export const decodeSnapshots = (bytes: Uint8Array, count: number, clusterSize: number): E.Either<QcowError, SnapshotTable> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: SnapshotRef[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    if (at + ENTRY_HEADER > bytes.byteLength) return E.left(invalidImage(`snapshot table entry ${i} runs past the end of the snapshot table or device`))
    const hi = view.getUint32(at)
    const lo = view.getUint32(at + 4)
    const l1Size = view.getUint32(at + 8)
    const idLength = view.getUint16(at + 12)
    const nameLength = view.getUint16(at + 14)
    const extra = view.getUint32(at + 36)
    if (extra > MAX_SNAPSHOT_EXTRA_DATA) return E.left(invalidImage(`snapshot ${i} has ${extra} bytes of extra data (at most ${MAX_SNAPSHOT_EXTRA_DATA})`))
    const l1TableOffset = hi * 0x100000000 + lo
    if (hi >= 0x200000) return E.left(invalidImage(`snapshot ${i} L1 table offset is too large`))
    if (l1TableOffset % clusterSize !== 0) return E.left(invalidImage(`snapshot ${i} L1 table offset ${l1TableOffset} is not cluster aligned`))
    if (l1Size * 8 > MAX_L1_BYTES) return E.left(invalidImage(`snapshot ${i} L1 table of ${l1Size} entries exceeds ${MAX_L1_BYTES} bytes`))
    at += ENTRY_HEADER + extra + idLength + nameLength
    at = Math.ceil(at / 8) * 8
    if (at > MAX_SNAPSHOT_TABLE_BYTES) return E.left(invalidImage(`snapshot table exceeds ${MAX_SNAPSHOT_TABLE_BYTES} bytes`))
    out.push({ l1TableOffset, l1Size })
  }
  return E.right({ snapshots: out, tableBytes: at })
}
