// The public shape of makeQcow's result: options, the qcow device and the module (types only).
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../block/device.js'
import type { BackingGate } from './backing/gate.js'
import type { QcowError } from './errors.js'

/** How a backing file is found: options shared by `Qcow.create` and `Qcow.connect`. */
export interface BackingOptions {
  /**
   * The backing device to use, overriding the header's backing name; `null` for none (unallocated
   * clusters then read as zeroes). The caller keeps it: `disconnect` leaves it connected.
   */
  readonly backing?: BlockDevice<QcowError> | null
  /**
   * Decides about and opens the backing file the header names, when `backing` is not given (and, for
   * a qcow2 backing, the files below it). Default `denyImplicitOpen`. Files it opens are read-only
   * and closed by `disconnect`.
   */
  readonly gate?: BackingGate
  /** The most backing files below the image; a deeper chain is refused (`BackingRefused`, `TooDeep`). Default 32. */
  readonly maxBackingDepth?: number
  /**
   * The image's own name as the gate takes names (for file gates, its path; relative to the gate's
   * directory for `confineTo`). When the gate can `identify` names, a backing chain that leads back to
   * the image is refused (`BackingRefused`, `Loop`) before the gate opens the image again; without it,
   * the loop is refused once the image has been opened a second time, as a backing.
   */
  readonly imageName?: string
}

/**
 * Options of `Qcow.create`. `size` is the virtual disk size in bytes (a multiple of 512); with a
 * backing file it defaults to the backing device's size.
 */
export interface CreateOptions extends BackingOptions {
  readonly size?: number
  /** The backing file name recorded in the header (at most 1023 bytes). */
  readonly backingFile?: string
  /** The backing format recorded in the header extension (`raw`, `qcow2`); default: the opened backing's. */
  readonly backingFormat?: string
  /** Bytes per cluster, a power of two from 512 to 2 MiB; default 65536. */
  readonly clusterSize?: number
  /** '1.1' (qcow2 version 3, the default) or '0.10' (version 2). */
  readonly compat?: '0.10' | '1.1'
  /** Refcount width in bits: 1, 2, 4, 8, 16, 32 or 64; default 16 (version 2 allows only 16). */
  readonly refcountBits?: number
  /** Set the lazy-refcounts compatible feature (version 3 only). */
  readonly lazyRefcounts?: boolean
}

/** Options of `Qcow.connect`. */
export interface ConnectOptions extends BackingOptions {
  /** Open without write access; writes then fail with `ReadOnly`. */
  readonly readOnly?: boolean
  /** Upper bound, in bytes, of the L2 table cache. */
  readonly l2CacheBytes?: number
  /** Upper bound, in bytes, of the refcount block cache. */
  readonly refcountCacheBytes?: number
  /**
   * Open an image whose corrupt bit is set read-write, only so that `repair()` can fix it (what
   * `qemu-img check -r` does). Guest writes stay refused with `Corrupt` until a repair leaves the
   * image free of corruption, which also clears the bit.
   */
  readonly repairCorrupt?: boolean
}

/** A named feature bit, from the image's feature-name table or from the bits this library knows. */
export interface FeatureName {
  readonly type: 'incompatible' | 'compatible' | 'autoclear'
  readonly bit: number
  readonly name: string
}

/** A header extension kept as found: its type and its data (without padding). */
export interface HeaderExtension {
  readonly type: number
  readonly data: Uint8Array
}

/** The parsed qcow2 header with its extensions, as `device.header()` returns it. */
export interface QcowHeader {
  readonly version: 2 | 3
  readonly clusterBits: number
  readonly clusterSize: number
  /** Virtual size in bytes. */
  readonly size: number
  readonly cryptMethod: number
  readonly l1Size: number
  readonly l1TableOffset: number
  readonly refcountTableOffset: number
  readonly refcountTableClusters: number
  readonly nbSnapshots: number
  readonly snapshotsOffset: number
  readonly backingFileOffset: number
  readonly backingFileSize: number
  /** The backing file name, when the header names one. */
  readonly backingFile?: string
  /** The backing format from its header extension, when present. */
  readonly backingFormat?: string
  readonly incompatibleFeatures: bigint
  readonly compatibleFeatures: bigint
  readonly autoclearFeatures: bigint
  readonly refcountOrder: number
  readonly refcountBits: number
  readonly headerLength: number
  /** 0 deflate, 1 zstd. */
  readonly compressionType: number
  /** Feature names from the image's feature-name table extension (empty when it has none). */
  readonly featureNames: ReadonlyArray<FeatureName>
  /** Extensions this library does not interpret, kept for rewrites in their original order. */
  readonly unknownExtensions: ReadonlyArray<HeaderExtension>
  /** Header bytes past the fields this library knows (up to header_length), kept for rewrites. */
  readonly unknownHeaderBytes: Uint8Array
  /** Convenience flags decoded from the feature bits. */
  readonly dirty: boolean
  readonly corrupt: boolean
  readonly lazyRefcounts: boolean
}

/** Options of `device.rebase`. */
export interface RebaseOptions {
  /** Only rewrite the header: the guest content then changes wherever the old and new backing differ. */
  readonly unsafe?: boolean
  /** The name recorded for the new backing (required unless the new backing is null). */
  readonly backingFile?: string
  /** The format recorded for it; default: qcow2 for a qcow device, else raw. */
  readonly backingFormat?: string
}

/** One backing layer below an image, as `device.backingChain()` lists them (nearest first). */
export interface BackingLayerInfo {
  /** The name the header above records (absent for a device given without a name). */
  readonly name?: string
  readonly format: 'raw' | 'qcow2'
  /** Guest bytes the layer holds; the layers above read zeroes past it. */
  readonly sizeBytes: number
  readonly device: BlockDevice<QcowError>
}

/**
 * One extent of `device.map()`, in bytes, with the fields `qemu-img map --output=json` prints for the
 * image and its backing chain.
 */
export interface MapExtent {
  readonly start: number
  readonly length: number
  /**
   * The layer describing the range, as qemu-img counts: 0 this image, 1 its backing, and so on.
   * Ranges no layer allocates are described by the bottom layer; past the end of a shorter backing,
   * by the last layer covering the range.
   */
  readonly depth: number
  /**
   * Allocated in that layer (qemu-img's `present`): a data, compressed or ZERO cluster of a qcow2
   * layer, or any part of a raw layer (its holes too).
   */
  readonly present: boolean
  /** Reads as zeroes: a ZERO cluster, an unallocated range with nothing below it, a raw layer's hole. */
  readonly zero: boolean
  /** Holds data: a normal or compressed cluster, or a raw layer's data. */
  readonly data: boolean
  /** Host offset of the bytes in that layer's file, for normal and preallocated zero clusters and raw layers. */
  readonly offset?: number
}

/** What `device.check()` reports; the counts equal `qemu-img check --output=json` on the same image. */
export interface CheckReport {
  readonly corruptions: number
  readonly leaks: number
  /** Parts that could not be checked (unreadable refcount blocks). */
  readonly checkErrors: number
  readonly fragmentedClusters: number
  readonly compressedClusters: number
  /** Guest clusters allocated in the active L1 table (data, compressed, preallocated zero). */
  readonly allocatedClusters: number
  /** Guest clusters of the virtual disk. */
  readonly totalClusters: number
  /** One past the last host byte in use (refcount or reference), in whole clusters. */
  readonly imageEndOffset: number
  /** One line per problem, worded like QEMU's. */
  readonly problems: ReadonlyArray<string>
}

/** What `device.repair()` did: the check report after the repair and what was fixed. */
export interface RepairReport extends CheckReport {
  readonly leaksFixed: number
  readonly corruptionsFixed: number
}

/** Options of `device.resize`. */
export interface ResizeOptions {
  /** Allow shrinking below allocated clusters (they are freed). */
  readonly allowShrink?: boolean
}

/** Options of `device.writeZeroes`. */
export interface WriteZeroesOptions {
  /** Release the host clusters of zeroed whole clusters. */
  readonly unmap?: boolean
}

/** Options of `device.repair`, like `qemu-img check -r leaks|all`. */
export interface RepairOptions {
  /** Reclaim leaked clusters. */
  readonly leaks?: boolean
  /** Also fix refcounts that are too low and COPIED flags (rebuilding the refcount structure when needed). */
  readonly all?: boolean
}

/** A qcow2 virtual disk: a BlockDevice (512-byte sectors) over a base device. */
export interface QcowDevice extends BlockDevice<QcowError> {
  /** The image's current header. */
  header(): TaskEither<QcowError, QcowHeader>
  /**
   * The BlockDevice capability: changes the virtual size to `sizeSectors` 512-byte sectors, freeing
   * clusters past a smaller end. Generic consumers (a qcow image stacked on this device, the
   * conformance laws) call this form.
   */
  resize(sizeSectors: number): TaskEither<QcowError, void>
  /**
   * The qcow2 maintenance resize (qemu-img resize): `newSizeBytes` in bytes, a multiple of 512.
   * Shrinking below allocated clusters is refused unless `allowShrink`. The options object selects
   * this form; without it the size is in sectors (see above).
   */
  resize(newSizeBytes: number, options: ResizeOptions): TaskEither<QcowError, void>
  /**
   * The first sector at or after `fromSector` that is mapped through the backing chain, or the size in
   * sectors when none. A sector is mapped when this image allocates it (a data, compressed or ZERO
   * cluster) or, where it does not, when the backing maps it: a qcow2 backing by the same rule,
   * recursively; another device where its own `seekMapped` says so, everywhere when it has no seeks.
   * Sectors past the end of a shorter backing and sectors no layer allocates are unmapped, and every
   * unmapped sector reads as zeroes, so a copy that skips unmapped ranges loses nothing. Without a
   * backing file this is the image's own allocation (`map()`'s `present` at depth 0).
   */
  seekMapped(fromSector: number): TaskEither<QcowError, number>
  /** The first sector at or after `fromSector` that is unmapped (see `seekMapped`), or the size in sectors when none. */
  seekUnmapped(fromSector: number): TaskEither<QcowError, number>
  /**
   * The map of `sectors` sectors from `fromSector` (default: the whole disk) through the backing
   * chain, equal to `qemu-img map --output=json`: ranges this image allocates at depth 0, others
   * described by the backing layer serving them, with its depth; neighbours with the same depth, flags
   * and contiguous offsets merged.
   */
  map(fromSector?: number, sectors?: number): TaskEither<QcowError, ReadonlyArray<MapExtent>>
  /** Deallocates whole clusters of the range and zeroes partial ones: the range reads as zeroes afterwards. */
  discard(sector: number, sectors: number): TaskEither<QcowError, void>
  /** Makes the range read as zeroes: ZERO clusters (version 3) for whole clusters, zero data elsewhere. */
  writeZeroes(sector: number, sectors: number, options?: WriteZeroesOptions): TaskEither<QcowError, void>
  /** Rewrites the refcount structure from every reference in the image. */
  rebuildRefcountTable(): TaskEither<QcowError, void>
  /** Checks the image like `qemu-img check`; never modifies it (a writable image is flushed first). */
  check(): TaskEither<QcowError, CheckReport>
  /** Repairs like `qemu-img check -r leaks|all`. */
  repair(options?: RepairOptions): TaskEither<QcowError, RepairReport>
  /** The backing layers below this image, nearest first (empty without a backing device). */
  backingChain(): TaskEither<QcowError, ReadonlyArray<BackingLayerInfo>>
  /**
   * Writes everything this image holds into its backing device, makes that durable, then empties
   * this image. A backing given as `backing` must be writable; one the gate opened is reopened
   * read-write through the gate. Writes arriving meanwhile wait until it is done.
   */
  commit(): TaskEither<QcowError, void>
  /**
   * Makes `newBacking` (null: none) this image's backing. Safe mode (the default) first copies up
   * every unallocated range where the old and new backing differ, so the guest content is unchanged;
   * `unsafe` only rewrites the header. The caller keeps `newBacking`. Writes arriving meanwhile wait
   * until the new backing is in place.
   */
  rebase(newBacking: BlockDevice<QcowError> | null, options?: RebaseOptions): TaskEither<QcowError, void>
  /** Copies up all data the backing shows through and drops the backing, so the image stands alone. */
  flatten(): TaskEither<QcowError, void>
}

/** What `makeQcow(Block)` returns: create and connect images stored on devices of `Block`. */
export interface QcowModule<D extends BlockDevice<QcowError>> {
  /** `Qcow(<base module name>)`. */
  readonly name: string
  /**
   * Formats `base` as a new, empty qcow2 image and returns it opened read-write. `base` is not
   * touched at all (not even `getInfo`) until the options are decoded and a backing file is open,
   * so a caller may create or empty the storage lazily on the first call and keep it intact when
   * the backing cannot be opened.
   */
  create(base: D, options: CreateOptions): TaskEither<QcowError, QcowDevice>
  /** Opens the qcow2 image stored on `base`. */
  connect(base: D, options?: ConnectOptions): TaskEither<QcowError, QcowDevice>
  /** Hooks for tests. */
  readonly Debug: {
    /** Makes the allocator continue at host cluster `hostCluster`. */
    setNextCluster(device: QcowDevice, hostCluster: number): TaskEither<QcowError, void>
    /** Fails with `Corrupt` naming them when two metadata structures or data clusters share a host cluster. */
    checkNoOverlaps(device: QcowDevice): TaskEither<QcowError, void>
  }
}
