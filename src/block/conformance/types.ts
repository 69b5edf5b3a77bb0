// The conformance laws' vocabulary: the device factory they take and the laws they return.
import type { BlockDevice } from '../device.js'

/** Any error value with a `_tag`, so the laws serve every device's error union (BlockError, QcowError, …). */
export interface Tagged {
  readonly _tag: string
}

/** A freshly opened device, with what the laws should expect of it. */
export interface FreshDevice<E extends Tagged> {
  /** The device under test, connected and owned by this run. */
  readonly device: BlockDevice<E>
  /** The size the device must report. */
  readonly sizeSectors: number
  /** Whether the device must accept writes. */
  readonly readWrite: boolean
  /** The sector size the device must report; 512 when absent. */
  readonly sectorSize?: number
  /** The bytes the device must hold at first (`sizeSectors * sectorSize` of them); zeroes when absent. */
  readonly contents?: Uint8Array
  /** Frees what the run used (temporary files, the device itself); called once the run ends, even after a failure. */
  readonly release?: () => Promise<void>
}

/** Opens a fresh device for one run of a law. Keep devices small (tens to a few hundred sectors). */
export type DeviceFactory<E extends Tagged> = () => Promise<FreshDevice<E>>

/** How hard the laws try. */
export interface LawOptions {
  /** Random cases per law; 100 when absent. */
  readonly numRuns?: number
  /** Seed for reproducing a failure reported by fast-check. */
  readonly seed?: number
  /** With `seed`, the `path` fast-check reported, to replay the shrunk counterexample directly. */
  readonly path?: string
  /** A run taking longer than this many milliseconds fails (a hung device); 10,000 when absent. */
  readonly timeoutMs?: number
}

/** One named law. `run` resolves when the law holds and rejects with fast-check's counterexample report when not. */
export interface Law {
  readonly name: string
  readonly run: () => Promise<void>
}
