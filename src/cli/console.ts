// CliConsole: where the command writes (stdout, stderr, the progress bar), so tests can capture it.

/** The command's output channels. Text is written as given (callers add newlines). */
export interface CliConsole {
  /** Writes to standard output. */
  out(text: string): void
  /** Writes to standard error. */
  err(text: string): void
  /** The stream a progress bar may draw on: standard output when it is a terminal, else undefined. */
  readonly progressStream: NodeJS.WritableStream | undefined
}

/** The process's own stdout and stderr. */
export const processConsole = (): CliConsole => ({
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
  progressStream: process.stdout.isTTY === true ? process.stdout : undefined,
})

/** A console that records everything written, for in-process tests and embedding. */
export interface CapturedConsole extends CliConsole {
  readonly stdout: () => string
  readonly stderr: () => string
}

/** Builds a console whose output is kept in memory. */
export const captureConsole = (): CapturedConsole => {
  const out: string[] = []
  const err: string[] = []
  return {
    out: (text) => void out.push(text),
    err: (text) => void err.push(text),
    progressStream: undefined,
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  }
}
