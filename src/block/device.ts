// The block-device contract: BlockInfo, BlockDevice and BlockModule.
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockError } from './errors.js'

/** What a device reports about itself. Sizes are in sectors of `sectorSize` bytes. */
export interface BlockInfo {
  readonly readWrite: boolean
  readonly sectorSize: number
  readonly sizeSectors: number
}

/**
 * A block device: reads and writes whole sectors. Every operation returns a `TaskEither` and never
 * throws or rejects. Buffers are each a whole number of sectors; a device copies what it keeps, so a
 * caller may reuse a buffer as soon as the call resolves. Concurrent calls are allowed and each
 * behaves as if it ran atomically. `write` is visible to later reads on resolution and durable after
 * a successful `flush`.
 */
export interface BlockDevice<E = BlockError> {
  /** The device's geometry and whether it accepts writes. */
  getInfo(): TaskEither<E, BlockInfo>
  /** Reads consecutive sectors from `sector` into the buffers, in order (scatter). */
  read(sector: number, buffers: ReadonlyArray<Uint8Array>): TaskEither<E, void>
  /** Writes the buffers, in order, to consecutive sectors from `sector` (gather). */
  write(sector: number, buffers: ReadonlyArray<Uint8Array>): TaskEither<E, void>
  /** Makes every write that resolved before this call durable. */
  flush(): TaskEither<E, void>
  /** Releases the device; later calls fail with `Disconnected`. */
  disconnect(): TaskEither<E, void>
  /** Optional: tells the device the sectors' contents are no longer needed (they read as zeroes after). */
  discard?(sector: number, sectors: number): TaskEither<E, void>
  /** Optional: sets the sectors to zeroes, cheaply where the device can. */
  writeZeroes?(sector: number, sectors: number): TaskEither<E, void>
  /** Optional: changes the device's size; new sectors read as zeroes. */
  resize?(sizeSectors: number): TaskEither<E, void>
  /**
   * Optional, offered together with `seekUnmapped`: the first sector at or after `fromSector` that is
   * mapped (may hold data), or the size in sectors when there is none (also when `fromSector` is at
   * or past the end). Every sector the device reports unmapped reads as zeroes, so a copier that skips
   * unmapped ranges loses nothing; a mapped sector may still read as zeroes. `fromSector` must be a
   * non-negative safe integer (else `OutOfRange`).
   */
  seekMapped?(fromSector: number): TaskEither<E, number>
  /** Optional, offered together with `seekMapped`: the first sector at or after `fromSector` that is unmapped (reads as zeroes), or the size in sectors when none. */
  seekUnmapped?(fromSector: number): TaskEither<E, number>
}

/** A family of devices opened from a configuration: the argument of functors such as `makeQcow`. */
export interface BlockModule<Config, D extends BlockDevice<unknown> = BlockDevice, E = BlockError> {
  /** A short name for messages, e.g. `RamDisk` or `FileBlock`. */
  readonly name: string
  /** Opens a device. */
  connect(config: Config): TaskEither<E, D>
}
