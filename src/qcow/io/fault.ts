// Internal failure plumbing: a typed fault thrown inside the engine and turned into a Left at every public boundary.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import { ioError } from '../../block/errors.js'
import type { QcowError } from '../errors.js'

/**
 * Carries a `QcowError` out of deep async engine code. It never escapes the package: `guard` converts
 * it (and any unexpected exception) into a `Left` at the public boundary.
 */
export class QcowFault {
  constructor(readonly error: QcowError) {}
}

/** Aborts the current engine operation with `error`. */
export const fail = (error: QcowError): never => {
  throw new QcowFault(error)
}

/** Runs a TaskEither inside engine code, turning its Left into a fault. */
export const must = async <A>(task: TaskEither<QcowError, A>): Promise<A> => {
  const result = await task()
  if (E.isLeft(result)) throw new QcowFault(result.left)
  return result.right
}

/** Throws the fault of a Left; for `.then` after a base-device call. */
export const orFault = <A>(result: E.Either<QcowError, A>): A => {
  if (E.isLeft(result)) throw new QcowFault(result.left)
  return result.right
}

/** The Left an engine failure of `operation` becomes. */
const leftOf = (operation: string, e: unknown): E.Either<QcowError, never> => E.left(e instanceof QcowFault ? e.error : ioError(operation, e))

/** Turns an engine operation into a TaskEither that never rejects. */
export const guard =
  <A>(operation: string, body: () => Promise<A>): TaskEither<QcowError, A> =>
  () =>
    body().then(E.right, (e: unknown) => leftOf(operation, e))

/** The one `Right` of a successful void operation. */
export const RIGHT_VOID: E.Either<QcowError, void> = E.right(undefined)
const toRightVoid = (): E.Either<QcowError, void> => RIGHT_VOID

/** The Left of a failure of `operation`, as a function made once per operation (for `settle`). */
export const failedAs =
  (operation: string) =>
  (e: unknown): E.Either<QcowError, never> =>
    leftOf(operation, e)

/**
 * `guard` for the hot paths: `start` runs at once and may throw (a fault) or return a promise, or
 * undefined when it finished without one; `failed` (from `failedAs`) renders a failure.
 */
export const settle = (failed: (e: unknown) => E.Either<QcowError, never>, start: () => Promise<void> | undefined): Promise<E.Either<QcowError, void>> => {
  let started: Promise<void> | undefined
  try {
    started = start()
  } catch (e) {
    return Promise.resolve(failed(e))
  }
  return started === undefined ? Promise.resolve(RIGHT_VOID) : started.then(toRightVoid, failed)
}
