// io-ts codecs for what crosses process boundaries in the bench: worker jobs, worker results, the JSON report.
import * as t from 'io-ts/lib/index.js'

/** A `qemu-img bench`-style request stream: `count` requests of `requestBytes`, offsets `i * stepBytes` modulo the image size. */
export const IoPattern = t.type({
  write: t.boolean,
  count: t.number,
  requestBytes: t.number,
  stepBytes: t.number,
})
/** A request stream. */
export type IoPattern = t.TypeOf<typeof IoPattern>

/** A qcow2 image in a file: optionally created fresh (`createBytes`), then one request stream at `depth` in flight. */
export const QcowFileJob = t.type({
  kind: t.literal('qcow-file'),
  image: t.string,
  createBytes: t.union([t.number, t.null]),
  readOnly: t.boolean,
  pattern: IoPattern,
  depth: t.number,
  /** Where to write a CPU profile of the timed part, or null. */
  profile: t.union([t.string, t.null]),
})
/** A qcow2-over-file job. */
export type QcowFileJob = t.TypeOf<typeof QcowFileJob>

/** A fresh qcow2 image over a RamDisk, then each request stream in turn (timed separately). */
export const QcowRamDiskJob = t.type({
  kind: t.literal('qcow-ramdisk'),
  sizeBytes: t.number,
  patterns: t.array(IoPattern),
  depth: t.number,
  /** Where to write a CPU profile of the timed part (all streams), or null. */
  profile: t.union([t.string, t.null]),
})
/** A qcow2-over-RamDisk job. */
export type QcowRamDiskJob = t.TypeOf<typeof QcowRamDiskJob>

/** The plain memory-copy baseline: each stream as synchronous copies between one buffer and a flat array. */
export const MemcpyJob = t.type({
  kind: t.literal('memcpy'),
  sizeBytes: t.number,
  patterns: t.array(IoPattern),
})
/** A memory-copy baseline job. */
export type MemcpyJob = t.TypeOf<typeof MemcpyJob>

/** The FileBlock small-request micro-benchmark: sync fs calls against the promise API, on a file at `path`. */
export const FsIoJob = t.type({
  kind: t.literal('fsio'),
  path: t.string,
  fileBytes: t.number,
  requestBytes: t.array(t.number),
  count: t.number,
  depth: t.number,
})
/** An fs micro-benchmark job. */
export type FsIoJob = t.TypeOf<typeof FsIoJob>

/** `check()` of a qcow2 image file opened untimed: our check's work without Node's start-up. */
export const CheckJob = t.type({
  kind: t.literal('check'),
  image: t.string,
  /** Where to write a CPU profile of the timed part, or null. */
  profile: t.union([t.string, t.null]),
})
/** An in-process check job. */
export type CheckJob = t.TypeOf<typeof CheckJob>

/** CLI command lines run one after another in one process with the CLI's `main`, each timed. */
export const CliJob = t.type({
  kind: t.literal('cli'),
  commands: t.array(t.array(t.string)),
  /** Prefix of the CPU profiles of the timed parts, or null. */
  profile: t.union([t.string, t.null]),
})
/** An in-process CLI job. */
export type CliJob = t.TypeOf<typeof CliJob>

/** Anything a bench worker process can be asked to run. */
export const WorkerJob = t.union([QcowFileJob, QcowRamDiskJob, MemcpyJob, FsIoJob, CheckJob, CliJob])
/** Anything a bench worker process can be asked to run. */
export type WorkerJob = t.TypeOf<typeof WorkerJob>

/** One row of the fs micro-benchmark: operations per second of one method at one request size. */
export const FsIoRow = t.type({ method: t.string, requestBytes: t.number, opsPerSecond: t.number })
/** One row of the fs micro-benchmark. */
export type FsIoRow = t.TypeOf<typeof FsIoRow>

/** A worker's answer: the seconds each timed phase took (and fs rows for `fsio`), or why it could not run. */
export const WorkerResult = t.union([
  t.type({ ok: t.literal(true), seconds: t.array(t.number), fsio: t.array(FsIoRow) }),
  t.type({ ok: t.literal(false), unavailable: t.boolean, reason: t.string }),
])
/** A worker's answer. */
export type WorkerResult = t.TypeOf<typeof WorkerResult>

const nullableNumber = t.union([t.number, t.null])

/** One workload in the `--json` report: medians of ours and theirs, their unit, and ours/theirs. */
export const WorkloadReport = t.intersection([
  t.type({
    name: t.string,
    ours: nullableNumber,
    theirs: nullableNumber,
    unit: t.string,
    ratio: nullableNumber,
  }),
  t.partial({
    id: t.string,
    oursPeakRssMiB: nullableNumber,
    theirsPeakRssMiB: nullableNumber,
    target: t.string,
    met: t.union([t.boolean, t.null]),
    runs: t.number,
    note: t.string,
  }),
])
/** One workload in the `--json` report. */
export type WorkloadReport = t.TypeOf<typeof WorkloadReport>

/** The whole `--json` report. */
export const BenchReport = t.intersection([
  t.type({ workloads: t.array(WorkloadReport) }),
  t.partial({ mode: t.string, fsio: t.array(FsIoRow) }),
])
/** The whole `--json` report. */
export type BenchReport = t.TypeOf<typeof BenchReport>
