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

/** Turns an engine operation into a TaskEither that never rejects. */
export const guard =
  <A>(operation: string, body: () => Promise<A>): TaskEither<QcowError, A> =>
  () =>
    body().then(
      (a) => E.right(a),
      (e: unknown) => E.left(e instanceof QcowFault ? e.error : ioError(operation, e)),
    )
