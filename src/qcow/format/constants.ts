// Numbers fixed by the qcow2 format and the limits QEMU 7.2 enforces when opening an image.

/** "QFI\xfb", the first four bytes of every qcow2 image. */
export const QCOW_MAGIC = 0x514649fb
/** Size of the version 2 header. */
export const V2_HEADER_LENGTH = 72
/** Smallest header_length a version 3 image may declare. */
export const V3_MIN_HEADER_LENGTH = 104
/** The header_length QEMU writes for version 3 images (with the compression type byte). */
export const V3_HEADER_LENGTH = 112
/** Smallest and largest cluster_bits QEMU accepts (512 B .. 2 MiB). */
export const MIN_CLUSTER_BITS = 9
export const MAX_CLUSTER_BITS = 21
/** Largest refcount_order (64-bit refcounts). */
export const MAX_REFCOUNT_ORDER = 6
/** Longest backing file name. */
export const MAX_BACKING_FILE_SIZE = 1023
/** Largest refcount table QEMU opens, in bytes. */
export const MAX_REFTABLE_BYTES = 8 * 1024 * 1024
/** Largest active L1 table QEMU opens, in bytes. */
export const MAX_L1_BYTES = 32 * 1024 * 1024
/** Most snapshots QEMU opens. */
export const MAX_SNAPSHOTS = 65536
/** Largest snapshot table QEMU opens, in bytes. */
export const MAX_SNAPSHOT_TABLE_BYTES = 64 * 1024 * 1024
/** Largest extra data of one snapshot entry. */
export const MAX_SNAPSHOT_EXTRA_DATA = 1024
/** Longest backing format name QEMU reads from its extension (the name must be shorter than this). */
export const MAX_BACKING_FORMAT_LENGTH = 16

/** Header extension types. */
export const EXT_END = 0x00000000
export const EXT_BACKING_FORMAT = 0xe2792aca
export const EXT_FEATURE_TABLE = 0x6803f857
export const EXT_BITMAPS = 0x23852875
export const EXT_CRYPTO = 0x0537be77
export const EXT_DATA_FILE = 0x44415441
/** Exact length of the bitmaps extension. */
export const BITMAPS_EXT_LENGTH = 24
/** Exact length of the full-disk-encryption header pointer extension. */
export const CRYPTO_EXT_LENGTH = 16

/** Incompatible feature bits. */
export const INCOMPAT_DIRTY = 0
export const INCOMPAT_CORRUPT = 1
export const INCOMPAT_DATA_FILE = 2
export const INCOMPAT_COMPRESSION = 3
export const INCOMPAT_EXTL2 = 4
/** Mask of the incompatible bits QEMU 7.2 knows (bits 0..4). */
export const KNOWN_INCOMPAT_MASK = 0x1fn
/** Compatible feature bit: lazy refcounts. */
export const COMPAT_LAZY_REFCOUNTS = 0
/** Autoclear bits. */
export const AUTOCLEAR_BITMAPS = 0
export const AUTOCLEAR_DATA_FILE_RAW = 1

/** Byte offsets of header fields. */
export const HEADER = {
  magic: 0,
  version: 4,
  backingFileOffset: 8,
  backingFileSize: 16,
  clusterBits: 20,
  size: 24,
  cryptMethod: 32,
  l1Size: 36,
  l1TableOffset: 40,
  refcountTableOffset: 48,
  refcountTableClusters: 56,
  nbSnapshots: 60,
  snapshotsOffset: 64,
  incompatibleFeatures: 72,
  compatibleFeatures: 80,
  autoclearFeatures: 88,
  refcountOrder: 96,
  headerLength: 100,
  compressionType: 104,
} as const

