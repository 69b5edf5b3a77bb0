// CliFailure: how a subcommand fails (message, file it concerns, exit code) and its one-line rendering.
import { describeError, type QcowError } from '../index.js'

/** A failed command: one sentence, the file it concerns (when any) and the process exit code. */
export interface CliFailure {
  readonly message: string
  readonly file?: string
  readonly exitCode: number
}

/** Builds a failure; the exit code defaults to 1, qemu-img's code for "the command could not run". */
export const failure = (message: string, file?: string, exitCode = 1): CliFailure =>
  file === undefined ? { message, exitCode } : { message, file, exitCode }

/** A failure built from a library error on `file`. */
export const fromQcowError =
  (file: string, exitCode = 1) =>
  (e: QcowError): CliFailure =>
    failure(describeError(e), file, exitCode)

/** The failure with another exit code (compare uses 2 where other commands use 1). */
export const withExitCode = (f: CliFailure, exitCode: number): CliFailure => ({ ...f, exitCode })

/** The stderr line for a failure: `qcow: <file>: <sentence>`, or `qcow: <sentence>` without a file. */
export const renderFailure = (f: CliFailure): string =>
  f.file === undefined ? `qcow: ${f.message}` : `qcow: ${f.file}: ${f.message}`
