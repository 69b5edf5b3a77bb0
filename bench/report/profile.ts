// Summarizes V8 CPU profiles: top self-time functions and files (CLI bundle frames mapped to their modules) as shares of the sampled time, plus recorded memory use.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'

const CpuProfile = t.type({
  nodes: t.array(
    t.type({
      id: t.number,
      callFrame: t.type({ functionName: t.string, url: t.string, lineNumber: t.number }),
    }),
  ),
  samples: t.array(t.number),
  timeDeltas: t.array(t.number),
})

/** One line of a summary: a function (or file) and its share of all sampled time. */
export interface Hotspot {
  readonly name: string
  readonly where: string
  readonly selfMs: number
  readonly percent: number
}

/** `process.memoryUsage()` (MiB) when a profiled worker's timed part ended. */
export interface MemoryAtEnd {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  readonly arrayBuffers: number
}

const MemoryUsage = t.type({ rss: t.number, heapUsed: t.number, external: t.number, arrayBuffers: t.number })

/** What the profiles of one measurement say. */
export interface ProfileSummary {
  readonly totalMs: number
  /** Memory of the profiled worker (the largest RSS among them), when one was recorded. */
  readonly memory: MemoryAtEnd | null
  readonly functions: ReadonlyArray<Hotspot>
  readonly files: ReadonlyArray<Hotspot>
}

/** A profile URL shown relative to the repository, `dist-bench/` stripped so it names the source file. */
const shortUrl = (url: string, root: string): string => {
  if (url === '') return '(native)'
  const local = url.startsWith('file://') ? url.slice('file://'.length) : url
  const relative = local.startsWith(root) ? path.relative(root, local) : local
  return relative.replace(/^dist-bench\//, '').replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')
}

/** The `// path` lines rolldown writes before each module of a bundle: the bundle line each module starts at. */
const bundleModules = (file: string): ReadonlyArray<readonly [number, string]> => {
  const modules: Array<readonly [number, string]> = []
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      const marker = /^\/\/ ((?:dist|node_modules)\/\S+)$/.exec(line)
      if (marker !== null) modules.push([index, marker[1]])
    })
  return modules
}

/**
 * Where a frame of the CLI bundle (dist/cli-bundle/*.cjs) comes from: the module whose code holds the
 * frame's line, as its source path; frames of other files are left alone (undefined).
 */
const bundleOrigin = (cache: Map<string, ReadonlyArray<readonly [number, string]>>, url: string, line: number): string | undefined => {
  if (!url.startsWith('file://') || !/\/cli-bundle\/[^/]+\.cjs$/.test(url)) return undefined
  const file = url.slice('file://'.length)
  const modules = cache.get(file) ?? (existsSync(file) ? bundleModules(file) : [])
  cache.set(file, modules)
  const owner = modules.filter(([start]) => start <= line).pop()
  return owner === undefined ? undefined : owner[1].startsWith('dist/') ? owner[1].replace(/^dist\//, 'src/').replace(/\.js$/, '.ts') : owner[1]
}

const top = (selfMs: Map<string, { name: string; where: string; ms: number }>, totalMs: number, count: number): Hotspot[] =>
  [...selfMs.values()]
    .sort((a, b) => b.ms - a.ms)
    .slice(0, count)
    .map((entry) => ({ name: entry.name, where: entry.where, selfMs: entry.ms, percent: (100 * entry.ms) / totalMs }))

const MiB = 1024 * 1024

/** The recorded memory usage with the largest RSS among `*.memory.json` in `dir`, in MiB. */
const readMemory = (dir: string): MemoryAtEnd | null =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.memory.json'))
    .map((name) => MemoryUsage.decode(JSON.parse(readFileSync(path.join(dir, name), 'utf8'))))
    .flatMap((decoded) => (E.isRight(decoded) ? [decoded.right] : []))
    .map((m) => ({ rss: m.rss / MiB, heapUsed: m.heapUsed / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB }))
    .reduce<MemoryAtEnd | null>((best, m) => (best === null || m.rss > best.rss ? m : best), null)

/** Reads every `.cpuprofile` in `dir` and ranks self time by function and by file; Left when there are none. */
export const summarizeProfiles = (dir: string, root: string, count = 12): E.Either<string, ProfileSummary> => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))
  if (files.length === 0) return E.left(`no .cpuprofile in ${dir}`)
  const byFunction = new Map<string, { name: string; where: string; ms: number }>()
  const byFile = new Map<string, { name: string; where: string; ms: number }>()
  const bundles = new Map<string, ReadonlyArray<readonly [number, string]>>()
  let totalMs = 0
  for (const name of files) {
    const decoded = CpuProfile.decode(JSON.parse(readFileSync(path.join(dir, name), 'utf8')))
    if (E.isLeft(decoded)) return E.left(`${name} is not a V8 CPU profile`)
    const profile = decoded.right
    const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]))
    profile.samples.forEach((id, index) => {
      // A sample's time is the gap to the next sample (the last one gets none).
      const ms = (profile.timeDeltas[index + 1] ?? 0) / 1000
      const frame = frames.get(id)
      if (frame === undefined) return
      totalMs += ms
      const origin = bundleOrigin(bundles, frame.url, frame.lineNumber)
      const where = origin ?? shortUrl(frame.url, root)
      const fn = frame.functionName === '' ? '(anonymous)' : frame.functionName
      const key = `${fn}@${where}:${frame.lineNumber}`
      const entry = byFunction.get(key) ?? { name: fn, where: frame.url === '' || origin !== undefined ? where : `${where}:${frame.lineNumber + 1}`, ms: 0 }
      entry.ms += ms
      byFunction.set(key, entry)
      const fileEntry = byFile.get(where) ?? { name: where, where, ms: 0 }
      fileEntry.ms += ms
      byFile.set(where, fileEntry)
    })
  }
  return E.right({ totalMs, memory: readMemory(dir), functions: top(byFunction, totalMs, count), files: top(byFile, totalMs, count) })
}
