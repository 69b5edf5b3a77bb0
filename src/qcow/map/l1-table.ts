// The active L1 table, held in memory (its size is bounded by QEMU's 32 MiB limit at open) and written entry by entry.
import { COPIED_HI, L1_RESERVED_HI, L1_RESERVED_LO, entryOffset, offsetHi, offsetLo } from '../format/entries.js'
import type { BaseIo } from '../io/base-io.js'
import { ChangeLog } from './change-log.js'

/** The active L1 table. */
export class L1Table {
  readonly view: DataView
  /** Entries that changed which L2 table they point at (every change must be noted here). */
  readonly changes = new ChangeLog()

  constructor(
    readonly offset: number,
    readonly bytes: Uint8Array,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Number of entries. */
  get size(): number {
    return this.bytes.byteLength / 8
  }

  /** High half of entry `index`. */
  hi(index: number): number {
    return this.view.getUint32(index * 8)
  }

  /** Low half of entry `index`. */
  lo(index: number): number {
    return this.view.getUint32(index * 8 + 4)
  }

  /** Sets entry `index` to point at the L2 table at `offset`, with COPIED. */
  set(index: number, offset: number): void {
    this.changes.note(index)
    this.view.setUint32(index * 8, (COPIED_HI | offsetHi(offset)) >>> 0)
    this.view.setUint32(index * 8 + 4, offsetLo(offset))
  }

  /** Puts back entry `index` as it was (`hi`, `lo`), after a failed write of a new entry. */
  restore(index: number, hi: number, lo: number): void {
    this.changes.note(index)
    this.view.setUint32(index * 8, hi)
    this.view.setUint32(index * 8 + 4, lo)
  }

  /** Writes the 512-byte sector holding entry `index` (or the whole table when it is smaller). */
  async writeEntry(io: BaseIo, index: number): Promise<void> {
    const at = Math.floor((index * 8) / 512) * 512
    const chunk = new Uint8Array(512)
    chunk.set(this.bytes.subarray(at, Math.min(at + 512, this.bytes.byteLength)))
    await io.write(this.offset + at, chunk)
  }
}

/** The L2 table offset in an L1 entry, or a reason the entry is invalid. */
export const l1EntryTarget = (hi: number, lo: number, clusterSize: number, deviceBytes: number): number | string => {
  if ((hi & L1_RESERVED_HI) !== 0 || (lo & L1_RESERVED_LO) !== 0) return 'L1 entry has reserved bits set'
  const offset = entryOffset(hi, lo)
  if (offset === 0) return 0
  if (offset % clusterSize !== 0) return `L2 table offset ${offset} is not cluster aligned`
  if (offset >= deviceBytes) return `L2 table offset ${offset} lies past the end of the device`
  return offset
}
