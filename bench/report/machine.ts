// Facts about the machine a bench ran on: CPU, cores, memory, kernel, node and qemu-img versions, date, load.
import * as os from 'node:os'
import * as E from 'fp-ts/lib/Either.js'
import { runSetup } from '../harness/proc.js'

/** The machine facts printed with every full result. */
export interface Machine {
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly kernel: string
  readonly node: string
  readonly qemu: string
  readonly date: string
  /** 1-minute load average when the bench started (other work on the machine skews results). */
  readonly loadAverage: number
}

/** Reads the machine facts (qemu-img's version line, or why it is missing). */
export const readMachine = async (): Promise<Machine> => {
  const version = await runSetup(['qemu-img', '--version'])
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    qemu: E.isLeft(version) ? `unavailable (${version.left})` : version.right.split('\n')[0],
    date: new Date().toISOString(),
    loadAverage: Math.round(os.loadavg()[0] * 100) / 100,
  }
}
