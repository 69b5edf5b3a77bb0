// Facts about the machine a bench ran on: CPU, cores, memory, kernel, node and qemu-img versions, date, load, node's startup time.
import * as os from 'node:os'
import * as E from 'fp-ts/lib/Either.js'
import { measure, runSetup } from '../harness/proc.js'

/** The machine facts printed with every full result. */
export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly kernel: string
  readonly node: string
  readonly qemu: string
  readonly date: string
  /** Median wall time of `node -e 0` (ms): the floor of any whole-process comparison of our CLI. */
  readonly nodeStartupMs: number | null
  /** 1-minute load average when the bench started (other work on the machine skews results). */
  readonly loadAverage: number
}

const nodeStartupMs = async (): Promise<number | null> => {
  const times: number[] = []
  for (let run = 0; run < 5; run++) {
    const measured = await measure([process.execPath, '-e', '0'])
    if (E.isLeft(measured)) return null
    times.push(measured.right.wallSeconds * 1000)
  }
  return times.sort((a, b) => a - b)[2]
}

/** Reads the machine facts (qemu-img's version line, or why it is missing). */
export const readMachine = async (): Promise<Machine> => {
  const version = await runSetup(['qemu-img', '--version'])
  const startup = await nodeStartupMs()
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    qemu: E.isLeft(version) ? `unavailable (${version.left})` : version.right.split('\n')[0],
    date: new Date().toISOString(),
    nodeStartupMs: startup === null ? null : Math.round(startup),
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
  }
}
