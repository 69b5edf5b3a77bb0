// Decoding of option objects from JS callers with io-ts: a bad value becomes an `Unsupported` error.
import * as E from 'fp-ts/lib/Either.js'
import type * as t from 'io-ts/lib/index.js'
import { unsupported, type BlockError } from './errors.js'

/** At most this many problems are named in one error. */
const MAX_PROBLEMS = 3

const renderValue = (value: unknown): string => {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  switch (typeof value) {
    case 'object':
      return 'an object'
    case 'function':
      return 'a function'
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    default:
      return String(value)
  }
}

const isCombination = (type: t.Decoder<unknown, unknown> | undefined): boolean => {
  const tag = (type as { _tag?: unknown } | undefined)?._tag
  return tag === 'IntersectionType' || tag === 'UnionType'
}

const renderProblem = (error: t.ValidationError): string => {
  // Keys under an intersection or a union number its members, not fields of the value: leave them out.
  const keys = error.context
    .filter((entry, i) => entry.key !== '' && !isCombination(error.context[i - 1]?.type))
    .map((entry) => entry.key)
  const expected = error.context.length > 0 ? error.context[error.context.length - 1].type.name : 'a value'
  const where = keys.length === 0 ? 'the configuration' : keys.join('.')
  return `${where} must be ${expected}, got ${renderValue(error.value)}`
}

/**
 * Decodes `input` with `codec`. A value that does not fit (or whose properties throw when read)
 * becomes `Unsupported` for `what`, with a reason naming the offending fields.
 */
export const decodeConfig = <A>(codec: t.Decoder<unknown, A>, input: unknown, what: string): E.Either<BlockError, A> => {
  let result: t.Validation<A>
  try {
    result = codec.decode(input)
  } catch (cause) {
    return E.left(unsupported(what, `the configuration could not be read: ${cause instanceof Error ? cause.message : String(cause)}`))
  }
  if (E.isRight(result)) return result
  const problems = result.left.slice(0, MAX_PROBLEMS).map(renderProblem)
  return E.left(unsupported(what, problems.join('; ')))
}
