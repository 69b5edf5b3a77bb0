// The workloads of issue 6 as groups of rows, each with how our side and QEMU's side run one measurement.
import { randomFillSync } from 'node:crypto'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import * as path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import type { IoPattern } from '../spec.js'
import { runSetup } from './proc.js'
import { failed, qemuBench, runOurCli, runQemuImg, runWorker, type Outcome } from './sides.js'
import type { Sizes } from './sizes.js'

/** What a row must reach: a minimum throughput ratio ours/theirs, or a maximum peak RSS of ours. */
export type Target = { readonly kind: 'ratio'; readonly min: number } | { readonly kind: 'rss'; readonly maxMiB: number }

/** One line of the report. */
export interface Row {
  readonly id: string
  readonly name: string
  readonly unit: string
  readonly target: Target | null
}

/** Where a group runs: its scratch directory and sizes. */
export interface Context {
  readonly dir: string
  readonly sizes: Sizes
}

/** Rows measured together: `ours` and `theirs` each yield one value per row per run. */
export interface Group {
  readonly rows: ReadonlyArray<Row>
  /** Untimed setup shared by both sides (test data); Left makes every row unavailable. */
  readonly prepare?: (ctx: Context) => Promise<E.Either<string, void>>
  readonly ours: (ctx: Context, run: number, profileDir?: string) => Promise<Outcome>
  readonly theirs: (ctx: Context, run: number) => Promise<Outcome>
  /** Files removed once the group is done. */
  readonly cleanup?: (ctx: Context) => ReadonlyArray<string>
  /** Ids of rows whose group must run first (it leaves the images this group uses). */
  readonly requires?: ReadonlyArray<string>
}

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const DEPTH = 64

const mibPerSecond = (pattern: IoPattern) => (seconds: number): number => (pattern.count * pattern.requestBytes) / MiB / seconds

const sequential = (write: boolean, requestBytes: number, imageBytes: number): IoPattern => ({
  write,
  count: imageBytes / requestBytes,
  requestBytes,
  stepBytes: requestBytes,
})

/** 4 KiB reads with the step of issue 6 (1 MiB + 4 KiB). */
const scattered = (count: number): IoPattern => ({ write: false, count, requestBytes: 4096, stepBytes: 1052672 })

/** qemu-img bench refuses steps above this. */
const MAX_STEP = 2 ** 31 - 1

/** A step that spreads `count` requests of `bytes` over `imageBytes` (aligned to `bytes`, one unit past even spacing, at most MAX_STEP). */
const spread = (imageBytes: number, count: number, bytes: number): number =>
  Math.min(Math.floor(imageBytes / count / bytes) * bytes + bytes, Math.floor(MAX_STEP / bytes) * bytes)

const file = (ctx: Context, name: string): string => path.join(ctx.dir, name)

const remove = (target: string): void => rmSync(target, { force: true })

/** Our side of a stream workload: one worker on our image file. */
const oursStream = (name: string, pattern: IoPattern, fresh: boolean, readOnly = false) =>
  async (ctx: Context, _run: number, profileDir?: string): Promise<Outcome> => {
    const image = file(ctx, name)
    if (fresh) remove(image)
    return runWorker(
      { kind: 'qcow-file', image, createBytes: fresh ? ctx.sizes.imageBytes : null, readOnly, pattern, depth: DEPTH, profile: null },
      (seconds) => seconds.map(mibPerSecond(pattern)),
      profileDir,
    )
  }

/** QEMU's side of a stream workload: `qemu-img bench` on its image file, created fresh when asked. */
const theirsStream = (name: string, pattern: IoPattern, fresh: boolean, toValue = mibPerSecond(pattern)) =>
  async (ctx: Context): Promise<Outcome> => {
    const image = file(ctx, name)
    if (fresh) {
      const created = await runSetup(['qemu-img', 'create', '-f', 'qcow2', image, String(ctx.sizes.imageBytes)])
      if (E.isLeft(created)) return failed(created.left)
    }
    const result = await qemuBench(image, pattern)
    return E.isLeft(result) ? result.left : { kind: 'ok', values: [toValue(result.right.seconds)], peakRssKiB: result.right.peakRssKiB }
  }

const streamGroups = (sizes: Sizes): Group[] => {
  const writes64 = sequential(true, 65536, sizes.imageBytes)
  const reads64 = sequential(false, 65536, sizes.imageBytes)
  const writes4 = sequential(true, 4096, sizes.imageBytes)
  const reads4 = scattered(sizes.scatteredReads)
  return [
    {
      rows: [{ id: '1', name: 'seq 64 KiB writes, fresh image', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } }],
      ours: oursStream('ours.qcow2', writes64, true),
      theirs: theirsStream('theirs.qcow2', writes64, true),
    },
    {
      requires: ['1'],
      rows: [{ id: '2', name: 'seq 64 KiB writes, allocated image', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } }],
      ours: oursStream('ours.qcow2', writes64, false),
      theirs: theirsStream('theirs.qcow2', writes64, false),
    },
    {
      requires: ['1'],
      rows: [{ id: '3', name: 'seq 64 KiB reads', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } }],
      ours: oursStream('ours.qcow2', reads64, false, true),
      theirs: theirsStream('theirs.qcow2', reads64, false),
    },
    {
      requires: ['1'],
      rows: [{ id: '4', name: '4 KiB scattered reads', unit: 'MiB/s', target: { kind: 'ratio', min: 0.5 } }],
      ours: oursStream('ours.qcow2', reads4, false, true),
      theirs: theirsStream('theirs.qcow2', reads4, false),
      cleanup: (ctx) => [file(ctx, 'ours.qcow2'), file(ctx, 'theirs.qcow2')],
    },
    {
      rows: [{ id: '5', name: 'seq 4 KiB writes, fresh image', unit: 'MiB/s', target: { kind: 'ratio', min: 0.7 } }],
      ours: oursStream('small-ours.qcow2', writes4, true),
      theirs: theirsStream('small-theirs.qcow2', writes4, true),
      cleanup: (ctx) => [file(ctx, 'small-ours.qcow2'), file(ctx, 'small-theirs.qcow2')],
    },
  ]
}

/** Writes `bytes` of random data to `target` in 1 MiB chunks. */
const writeRandomFile = (target: string, bytes: number): void => {
  const chunk = new Uint8Array(Math.min(bytes, MiB))
  const fd = openSync(target, 'w')
  try {
    for (let done = 0; done < bytes; done += chunk.byteLength) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.byteLength, bytes - done))
  } finally {
    closeSync(fd)
  }
}

/** A converted file of a tool's round trip. */
const convertedFile = (ctx: Context, tool: 'ours' | 'theirs', format: 'qcow2' | 'raw'): string =>
  file(ctx, format === 'qcow2' ? `converted-${tool}.qcow2` : `back-${tool}.raw`)

/** The two convert command lines of the round trip raw→qcow2→raw. */
const convertCommands = (ctx: Context, tool: 'ours' | 'theirs'): ReadonlyArray<string[]> => [
  ['convert', '-f', 'raw', '-O', 'qcow2', file(ctx, 'random.raw'), convertedFile(ctx, tool, 'qcow2')],
  ['convert', '-f', 'qcow2', '-O', 'raw', convertedFile(ctx, tool, 'qcow2'), convertedFile(ctx, tool, 'raw')],
]

/** Removes a tool's converted files (they hold 2 GiB of /dev/shm at full size). */
const removeConverted = (ctx: Context, tool: 'ours' | 'theirs'): void => {
  remove(convertedFile(ctx, tool, 'qcow2'))
  remove(convertedFile(ctx, tool, 'raw'))
}

/**
 * Converts raw→qcow2→raw with one tool as whole processes; the first run also checks the round trip
 * with `qemu-img compare`. Our side then runs the same two commands again inside one node process with
 * the CLI's modules already loaded (rows 6a.w, 6b.w): our work without Node's start-up. QEMU's side
 * gives its whole-process figures for those rows too.
 */
const convertBoth = (tool: 'ours' | 'theirs') =>
  async (ctx: Context, run: number, profileDir?: string): Promise<Outcome> => {
    removeConverted(ctx, tool)
    const [toQcowArgs, toRawArgs] = convertCommands(ctx, tool)
    const exec = (args: string[]) => (tool === 'ours' ? runOurCli(args, profileDir) : runQemuImg(args))
    const toQcow = await exec(toQcowArgs)
    if (E.isLeft(toQcow)) return toQcow.left
    const toRaw = await exec(toRawArgs)
    if (E.isLeft(toRaw)) return toRaw.left
    if (run === 0) {
      const same = await runSetup(['qemu-img', 'compare', '-q', '-f', 'raw', '-F', 'raw', file(ctx, 'random.raw'), convertedFile(ctx, tool, 'raw')])
      if (E.isLeft(same)) return failed(`round trip differs from the source: ${same.left}`)
    }
    removeConverted(ctx, tool)
    const mib = ctx.sizes.convertBytes / MiB
    const peaks = [toQcow.right.peakRssKiB, toRaw.right.peakRssKiB]
    const whole = [mib / toQcow.right.wallSeconds, mib / toRaw.right.wallSeconds]
    const peakRssKiB = peaks.includes(null) ? null : Math.max(...(peaks as number[]))
    if (tool === 'theirs') return { kind: 'ok', values: [...whole, ...whole], peakRssKiB }
    if (profileDir !== undefined) return { kind: 'ok', values: whole, peakRssKiB }
    const work = await runWorker({ kind: 'cli', commands: [...convertCommands(ctx, tool)], profile: null }, (seconds) => seconds.map((s) => mib / s))
    removeConverted(ctx, tool)
    return work.kind === 'ok' ? { kind: 'ok', values: [...whole, ...work.values], peakRssKiB } : work
  }

/**
 * `check --output=json` of the scattered-data image with one tool as a whole process. Our side also
 * times `check()` alone on the image opened untimed (row 7.w, like workloads 1–5); QEMU's side gives
 * its whole-process figure for that row too.
 */
const checkWith = (tool: 'ours' | 'theirs') =>
  async (ctx: Context, _run: number, profileDir?: string): Promise<Outcome> => {
    const image = file(ctx, 'check.qcow2')
    const args = ['check', '--output=json', image]
    const result = tool === 'ours' ? await runOurCli(args, profileDir) : await runQemuImg(args)
    if (E.isLeft(result)) return result.left
    const whole = ctx.sizes.checkImageBytes / GiB / result.right.wallSeconds
    if (tool === 'theirs') return { kind: 'ok', values: [whole, whole], peakRssKiB: result.right.peakRssKiB }
    if (profileDir !== undefined) return { kind: 'ok', values: [whole], peakRssKiB: result.right.peakRssKiB }
    const work = await runWorker({ kind: 'check', image, profile: null }, (seconds) => seconds.map((s) => ctx.sizes.checkImageBytes / GiB / s))
    return work.kind === 'ok' ? { kind: 'ok', values: [whole, ...work.values], peakRssKiB: result.right.peakRssKiB } : work
  }

/** An image made by QEMU: created at `bytes`, then `writes` writes of `requestBytes` spread over it. */
const qemuImage = async (target: string, bytes: number, writes: number, requestBytes: number): Promise<E.Either<string, void>> => {
  const created = await runSetup(['qemu-img', 'create', '-f', 'qcow2', target, String(bytes)])
  if (E.isLeft(created)) return created
  const filled = await runSetup([
    'qemu-img', 'bench', '-w', '-t', 'writeback', '-c', String(writes), '-s', String(requestBytes),
    '-S', String(spread(bytes, writes, requestBytes)), '-f', 'qcow2', target,
  ])
  return E.map(() => undefined)(filled)
}

const toolGroups = (sizes: Sizes): Group[] => {
  const sparseReads: IoPattern = {
    write: false,
    count: sizes.sparseReads,
    requestBytes: 512,
    stepBytes: spread(sizes.sparseImageBytes, sizes.sparseReads, 512),
  }
  const readsPerSecond = (seconds: number): number => sparseReads.count / seconds
  return [
    {
      rows: [
        { id: '6a', name: 'convert raw → qcow2', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } },
        { id: '6b', name: 'convert qcow2 → raw', unit: 'MiB/s', target: { kind: 'ratio', min: 1 } },
        { id: '6a.w', name: 'convert raw → qcow2, our work alone (in-process, no Node start-up; QEMU whole process)', unit: 'MiB/s', target: null },
        { id: '6b.w', name: 'convert qcow2 → raw, our work alone (in-process, no Node start-up; QEMU whole process)', unit: 'MiB/s', target: null },
      ],
      prepare: async (ctx) => {
        writeRandomFile(file(ctx, 'random.raw'), ctx.sizes.convertBytes)
        return E.right(undefined)
      },
      ours: convertBoth('ours'),
      theirs: convertBoth('theirs'),
      cleanup: (ctx) => ['random.raw', 'converted-ours.qcow2', 'back-ours.raw', 'converted-theirs.qcow2', 'back-theirs.raw'].map((name) => file(ctx, name)),
    },
    {
      rows: [
        { id: '7', name: `check of a ${sizes.checkImageBytes / GiB} GiB image`, unit: 'GiB/s', target: { kind: 'ratio', min: 1 } },
        { id: '7.w', name: `check of a ${sizes.checkImageBytes / GiB} GiB image, our check() alone (opened untimed; QEMU whole process)`, unit: 'GiB/s', target: null },
      ],
      prepare: (ctx) => qemuImage(file(ctx, 'check.qcow2'), ctx.sizes.checkImageBytes, ctx.sizes.checkWrites, 4096),
      ours: checkWith('ours'),
      theirs: checkWith('theirs'),
      cleanup: (ctx) => [file(ctx, 'check.qcow2')],
    },
    {
      rows: [{ id: '8', name: '1 TiB sparse image, scattered 512 B reads', unit: 'reads/s', target: { kind: 'rss', maxMiB: 100 } }],
      prepare: (ctx) => qemuImage(file(ctx, 'sparse.qcow2'), ctx.sizes.sparseImageBytes, ctx.sizes.sparseWrites, 65536),
      ours: (ctx, _run, profileDir) =>
        runWorker(
          { kind: 'qcow-file', image: file(ctx, 'sparse.qcow2'), createBytes: null, readOnly: true, pattern: sparseReads, depth: DEPTH, profile: null },
          (seconds) => seconds.map(readsPerSecond),
          profileDir,
        ),
      theirs: theirsStream('sparse.qcow2', sparseReads, false, readsPerSecond),
      cleanup: (ctx) => [file(ctx, 'sparse.qcow2')],
    },
  ]
}

const ramDiskGroup = (sizes: Sizes): Group => {
  const patterns = [
    sequential(true, 65536, sizes.imageBytes),
    sequential(true, 65536, sizes.imageBytes),
    sequential(false, 65536, sizes.imageBytes),
    scattered(sizes.scatteredReads),
  ]
  const toValues = (seconds: ReadonlyArray<number>): number[] => seconds.map((s, i) => mibPerSecond(patterns[i])(s))
  const row = (id: string, name: string, target: Target | null): Row => ({ id, name: `RamDisk: ${name} (vs memcpy)`, unit: 'MiB/s', target })
  return {
    rows: [
      row('9.1', 'seq 64 KiB writes, fresh', null),
      row('9.2', 'seq 64 KiB writes, allocated', null),
      row('9.3', 'seq 64 KiB reads', { kind: 'ratio', min: 0.5 }),
      row('9.4', '4 KiB scattered reads', null),
    ],
    ours: (_ctx, _run, profileDir) => runWorker({ kind: 'qcow-ramdisk', sizeBytes: sizes.imageBytes, patterns, depth: DEPTH, profile: null }, toValues, profileDir),
    theirs: () => runWorker({ kind: 'memcpy', sizeBytes: sizes.imageBytes, patterns }, toValues),
  }
}

/** Every workload group of issue 6, in the order they run. */
export const workloadGroups = (sizes: Sizes): ReadonlyArray<Group> => [...streamGroups(sizes), ...toolGroups(sizes), ramDiskGroup(sizes)]
