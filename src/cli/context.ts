// CliContext: what every subcommand gets (its console) and how it reports its outcome (an exit code).
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import type { CliConsole } from './console.js'
import { failure, renderFailure, type CliFailure } from './failure.js'

/** Given to every subcommand. */
export interface CliContext {
  readonly console: CliConsole
  /** Records a subcommand's outcome: prints a failure's line to stderr and keeps the exit code. */
  finish(result: E.Either<CliFailure, number>): void
}

/** A context plus the exit code its subcommand recorded (0 until one is recorded). */
export const makeContext = (console: CliConsole): { readonly context: CliContext; readonly exitCode: () => number } => {
  let code = 0
  return {
    context: {
      console,
      finish: (result) => {
        if (E.isLeft(result)) console.err(`${renderFailure(result.left)}\n`)
        code = E.isLeft(result) ? result.left.exitCode : result.right
      },
    },
    exitCode: () => code,
  }
}

/** `--output=human|json`. */
const OutputCodec = t.keyof({ human: null, json: null }, 'Output')
/** How a subcommand prints its result. */
export type Output = t.TypeOf<typeof OutputCodec>

/** Decodes `--output`, or explains the accepted values. */
export const decodeOutput = (text: string): E.Either<CliFailure, Output> =>
  OutputCodec.is(text) ? E.right(text) : E.left(failure(`--output must be human or json, got '${text}'`))

/** JSON as qemu-img prints it: four-space indentation. */
export const qemuJson = (value: unknown): string => `${JSON.stringify(value, null, 4)}\n`

/** Lifts a sentence-or-value from a decoder into a command failure (exit code 1, no file). */
export const orFail = <A>(decoded: E.Either<string, A>): E.Either<CliFailure, A> =>
  E.isLeft(decoded) ? E.left(failure(decoded.left)) : decoded

/** Collects a repeatable option's values (`-o a=1 -o b=2`, `-c CMD -c CMD`). */
export const collect = (value: string, previous: ReadonlyArray<string> | undefined): ReadonlyArray<string> => [...(previous ?? []), value]

/** The context with standard output silenced, for `-q` (errors still reach stderr). */
export const quietWhen = (ctx: CliContext, quiet: boolean | undefined): CliContext =>
  quiet === true ? { ...ctx, console: { ...ctx.console, out: () => undefined, progressStream: undefined } } : ctx
