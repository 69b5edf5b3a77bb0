// The progress bar of `convert -p` (cli-progress): percentage, throughput and time left, on a terminal only.
import cliProgress from 'cli-progress'
import type { CliConsole } from './console.js'
import { ioSizeToString } from './human.js'

/** Receives how many bytes of the job are done. */
export interface Progress {
  update(doneBytes: number): void
  stop(): void
}

const silent: Progress = { update: () => undefined, stop: () => undefined }

/** A bar over `totalBytes` when asked for and standard output is a terminal; otherwise it prints nothing. */
export const startProgress = (console: CliConsole, totalBytes: number, wanted: boolean): Progress => {
  const stream = console.progressStream
  if (!wanted || stream === undefined) return silent
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '    [{bar}] {percentage}% | {speed} | {eta_formatted} left',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  )
  const started = Date.now()
  const speed = (done: number): string => `${ioSizeToString(done / Math.max(0.001, (Date.now() - started) / 1000))}/s`
  bar.start(Math.max(1, totalBytes), 0, { speed: speed(0) })
  return {
    update: (done) => bar.update(done, { speed: speed(done) }),
    stop: () => bar.stop(),
  }
}
