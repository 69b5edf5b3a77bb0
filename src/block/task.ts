// Small TaskEither helpers for device implementations: turning promises into values that never reject.
import * as TE from 'fp-ts/lib/TaskEither.js'
import { ioError, type BlockError } from './errors.js'

/** Runs `run`, mapping any rejection or throw to an `Io` error for `operation` (and `path`, when given). */
export const tryIo = <A>(operation: string, run: () => Promise<A>, path?: string): TE.TaskEither<BlockError, A> =>
  TE.tryCatch(run, (cause) => ioError(operation, cause, path))
