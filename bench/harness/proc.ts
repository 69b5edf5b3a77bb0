// Runs a child process and measures it: wall time, exit status, output and peak RSS (via python's wait4 rusage).
import { spawn } from 'node:child_process'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'

/** What one measured child process did. `peakRssKiB` is null when it could not be measured. */
export interface Measured {
  readonly status: number
  readonly wallSeconds: number
  readonly peakRssKiB: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `argv`, waits for it with wait4 and prints its status, wall time, peak RSS and output as JSON. */
const RUSAGE_WRAPPER = `
import json, resource, subprocess, sys, time
started = time.monotonic()
child = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.monotonic() - started
print(json.dumps({"status": child.returncode, "wallSeconds": wall,
  "peakRssKiB": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
  "stdout": child.stdout.decode(errors="replace"), "stderr": child.stderr.decode(errors="replace")}))
`

const MeasuredCodec = t.type({ status: t.number, wallSeconds: t.number, peakRssKiB: t.number, stdout: t.string, stderr: t.string })

interface Raw {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
  readonly spawnError?: string
}

const runRaw = (command: string, args: ReadonlyArray<string>, env?: NodeJS.ProcessEnv): Promise<Raw> =>
  new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', (error) => resolve({ code: -1, stdout: '', stderr: '', spawnError: error.message }))
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    )
  })

let pythonWorks: boolean | undefined

const measureDirect = async (argv: ReadonlyArray<string>): Promise<E.Either<string, Measured>> => {
  const started = performance.now()
  const raw = await runRaw(argv[0], argv.slice(1))
  if (raw.spawnError !== undefined) return E.left(`${argv[0]}: ${raw.spawnError}`)
  return E.right({ status: raw.code, wallSeconds: (performance.now() - started) / 1000, peakRssKiB: null, stdout: raw.stdout, stderr: raw.stderr })
}

/** Runs `argv` to completion and measures it; peak RSS needs python3 and is null without it. */
export const measure = async (argv: ReadonlyArray<string>): Promise<E.Either<string, Measured>> => {
  if (pythonWorks === false) return measureDirect(argv)
  const raw = await runRaw('python3', ['-c', RUSAGE_WRAPPER, ...argv])
  if (raw.spawnError !== undefined) {
    pythonWorks = false
    return measureDirect(argv)
  }
  try {
    const decoded = MeasuredCodec.decode(JSON.parse(raw.stdout))
    if (E.isLeft(decoded)) return E.left(`rusage wrapper printed an unexpected shape for ${argv.join(' ')}`)
    pythonWorks = true
    return E.right(decoded.right)
  } catch {
    return E.left(`${argv[0]} could not be run: ${raw.stderr.trim().split('\n').pop() ?? ''}`)
  }
}

/** Runs a setup command (not measured); Left with its stderr when it fails. */
export const runSetup = async (argv: ReadonlyArray<string>): Promise<E.Either<string, string>> => {
  const raw = await runRaw(argv[0], argv.slice(1))
  if (raw.spawnError !== undefined) return E.left(`${argv[0]}: ${raw.spawnError}`)
  return raw.code === 0 ? E.right(raw.stdout) : E.left(`${argv.join(' ')} exited ${raw.code}: ${raw.stderr.trim()}`)
}
