// Test harness for the qcow command: in-process runs with captured output, the built bin as a process, qemu runs.
import { cp, mkdir, rm } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { captureConsole } from '../../src/cli/console.js'
import { main } from '../../src/cli/main.js'
import { qemuImg, qemuIoRaw, run, type ProcResult } from '../support/qemu.js'

/** What one command line left: stdout, stderr and exit code. */
export type CommandResult = ProcResult

/** Runs `qcow ARGS` in this process. */
export const qcow = async (args: ReadonlyArray<string>): Promise<CommandResult> => {
  const console = captureConsole()
  const code = await main(args, console)
  return { stdout: console.stdout(), stderr: console.stderr(), code }
}

/** Runs the same argument list through `qemu-img` and `qcow` (in-process). */
export const bothImg = async (args: ReadonlyArray<string>): Promise<{ qemu: CommandResult; ours: CommandResult }> => ({
  qemu: await qemuImg(args),
  ours: await qcow(args),
})

/** Runs `qemu-io ARGS` and `qcow io ARGS`. */
export const bothIo = async (args: ReadonlyArray<string>): Promise<{ qemu: CommandResult; ours: CommandResult }> => ({
  qemu: await qemuIoRaw(args),
  ours: await qcow(['io', ...args]),
})

/** qemu-io's output without its timing lines (`..., 1 ops; 00.00 sec (...)`), which vary run to run. */
export const withoutTimings = (stdout: string): string =>
  stdout
    .split('\n')
    .filter((line) => !/ ops; .* sec \(/.test(line))
    .join('\n')

/** Parses a command's JSON output, failing the test with its stderr when it is not JSON. */
export const jsonOf = (r: CommandResult): Record<string, unknown> => {
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`)
  }
}

/** A copy of `o` without the listed keys. */
export const omit = (o: Record<string, unknown>, keys: ReadonlyArray<string>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)))

const ROOT = join(import.meta.dirname, '..', '..')

/**
 * Builds the package into a private directory under node_modules/.cache (so it does not race other
 * suites over dist/) with a copy of bin/qcow.js and package.json, and returns the bin's path.
 */
export const buildPrivateBin = async (): Promise<string> => {
  const home = join(ROOT, 'node_modules', '.cache', `qcow-cli-test-${process.pid}`)
  await rm(home, { recursive: true, force: true })
  await mkdir(join(home, 'bin'), { recursive: true })
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc')
  const built = await run(tsc, ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(home, 'dist')])
  if (built.code !== 0) throw new Error(`build failed: ${built.stdout}${built.stderr}`)
  await cp(join(ROOT, 'bin', 'qcow.js'), join(home, 'bin', 'qcow.js'))
  await cp(join(ROOT, 'package.json'), join(home, 'package.json'))
  return join(home, 'bin', 'qcow.js')
}

/** Removes what `buildPrivateBin` made. */
export const removePrivateBin = (bin: string): Promise<void> => rm(join(bin, '..', '..'), { recursive: true, force: true })

/** Runs `node BIN ARGS` as a real process. */
export const qcowProcess = (bin: string, args: ReadonlyArray<string>): Promise<CommandResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 }),
    )
  })
