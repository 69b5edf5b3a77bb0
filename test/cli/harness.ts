// Test harness for the qcow command: in-process runs with captured output, the built bin as a process, qemu runs.
import { cp, mkdir, open, rm } from 'node:fs/promises'
import { execFile } from 'node:child_process'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
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

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const CACHE = join(ROOT, 'node_modules', '.cache')
/** The one directory the process tests build into; nothing else is ever removed by them. */
const PRIVATE_HOME = join(CACHE, `qcow-cli-test-${process.pid}`)

/** Removes PRIVATE_HOME, after checking it is an absolute path inside node_modules/.cache. */
const removePrivateHome = async (): Promise<void> => {
  if (!isAbsolute(PRIVATE_HOME) || dirname(PRIVATE_HOME) !== CACHE || !basename(PRIVATE_HOME).startsWith('qcow-cli-test-')) {
    throw new Error(`refusing to remove ${PRIVATE_HOME}`)
  }
  await rm(PRIVATE_HOME, { recursive: true, force: true })
}

/**
 * Builds and bundles the package into a private directory under node_modules/.cache (so it does not race
 * other suites over dist/) with a copy of bin/qcow.js and package.json, and returns the bin's path.
 */
export const buildPrivateBin = async (): Promise<string> => {
  await removePrivateHome()
  await mkdir(join(PRIVATE_HOME, 'bin'), { recursive: true })
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc')
  const built = await run(tsc, ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(PRIVATE_HOME, 'dist')])
  if (built.code !== 0) throw new Error(`build failed: ${built.stdout}${built.stderr}`)
  const bundled = await run(process.execPath, [join(ROOT, 'scripts', 'bundle-cli.mjs'), join(PRIVATE_HOME, 'dist')])
  if (bundled.code !== 0) throw new Error(`bundling failed: ${bundled.stdout}${bundled.stderr}`)
  await cp(join(ROOT, 'bin', 'qcow.js'), join(PRIVATE_HOME, 'bin', 'qcow.js'))
  await cp(join(ROOT, 'package.json'), join(PRIVATE_HOME, 'package.json'))
  return join(PRIVATE_HOME, 'bin', 'qcow.js')
}

/** Removes what `buildPrivateBin` made (that fixed directory only, whatever happened before). */
export const removePrivateBin = (): Promise<void> => removePrivateHome()

/** Runs `node BIN ARGS` as a real process. */
export const qcowProcess = (bin: string, args: ReadonlyArray<string>): Promise<CommandResult> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 }),
    )
  })

/** Overwrites bytes of a file in place. */
export const poke = async (path: string, offset: number, bytes: ReadonlyArray<number>): Promise<void> => {
  const h = await open(path, 'r+')
  try {
    await h.write(Uint8Array.from(bytes), 0, bytes.length, offset)
  } finally {
    await h.close()
  }
}
