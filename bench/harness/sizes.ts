// Sizes and run counts of a full bench run (issue 6) and of the `--quick` smoke run.
/** Every size the workloads use. */
export interface Sizes {
  readonly mode: 'full' | 'quick'
  /** Virtual size of the images of workloads 1-5 and 9. */
  readonly imageBytes: number
  /** 4 KiB scattered reads of workload 4. */
  readonly scatteredReads: number
  /** Size of the raw file converted in workload 6. */
  readonly convertBytes: number
  /** Virtual size of the checked image (workload 7) and how many scattered 4 KiB writes it holds. */
  readonly checkImageBytes: number
  readonly checkWrites: number
  /** Virtual size of the sparse image (workload 8), how many 64 KiB writes it holds (qemu-img bench caps the step at 2 GiB) and how many sectors are read. */
  readonly sparseImageBytes: number
  readonly sparseWrites: number
  readonly sparseReads: number
  /** Requests per method and size in the fs micro-benchmark. */
  readonly fsioCount: number
  /** Default number of measured runs per side. */
  readonly runs: number
}

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB
const TiB = 1024 * GiB

/** The sizes issue 6 asks for. */
export const FULL: Sizes = {
  mode: 'full',
  imageBytes: GiB,
  scatteredReads: 200_000,
  convertBytes: GiB,
  checkImageBytes: 16 * GiB,
  checkWrites: 16_384,
  sparseImageBytes: TiB,
  sparseWrites: 1_024,
  sparseReads: 10_000,
  fsioCount: 10_000,
  runs: 3,
}

/** Shrunk sizes: the whole harness in seconds. */
export const QUICK: Sizes = {
  mode: 'quick',
  imageBytes: 16 * MiB,
  scatteredReads: 2_000,
  convertBytes: 16 * MiB,
  checkImageBytes: 256 * MiB,
  checkWrites: 256,
  sparseImageBytes: TiB,
  sparseWrites: 1_024,
  sparseReads: 200,
  fsioCount: 200,
  runs: 1,
}
