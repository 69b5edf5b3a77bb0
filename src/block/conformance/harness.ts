// Calling a device under test safely: throws, rejections and malformed results become law violations.
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockInfo } from '../device.js'
import type { DeviceFactory, Tagged } from './types.js'

/** Why a law failed; fast-check reports its message with the counterexample. */
export class LawViolation extends Error {
  override readonly name = 'LawViolation'
}

/** Fails the current run with `message`. */
export const violation = (message: string): never => {
  throw new LawViolation(message)
}

/** Renders any value for a message, without ever throwing. */
export const show = (value: unknown): string => {
  if (value instanceof Error) return `${value.name}: ${value.message}`
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}

/** The outcome of one call: the device's value or its tagged error. */
export type Outcome<E, A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: E }

/** Runs one device call; a throw, a rejection, a non-Either result or an untagged error fails the law. */
export const settle = async <E extends Tagged, A>(what: string, call: () => TaskEither<E, A>): Promise<Outcome<E, A>> => {
  let result: unknown
  try {
    result = await call()()
  } catch (cause) {
    return violation(`${what} threw or rejected instead of returning an error value: ${show(cause)}`)
  }
  const either = result as { _tag?: unknown; left?: unknown; right?: unknown } | null
  if (typeof either !== 'object' || either === null || (either._tag !== 'Left' && either._tag !== 'Right')) {
    return violation(`${what} resolved to ${show(result)}, which is not an Either`)
  }
  if (either._tag === 'Right') return { ok: true, value: either.right as A }
  const error = either.left as { _tag?: unknown } | null
  if (typeof error !== 'object' || error === null || typeof error._tag !== 'string') {
    return violation(`${what} returned an error without a _tag: ${show(either.left)}`)
  }
  return { ok: false, error: either.left as E }
}

/** Runs a call that must succeed and returns its value. */
export const succeed = async <E extends Tagged, A>(what: string, call: () => TaskEither<E, A>): Promise<A> => {
  const outcome = await settle(what, call)
  return outcome.ok ? outcome.value : violation(`${what} failed: ${show(outcome.error)}`)
}

/** Runs a call that must fail with one of `tags`. */
export const refuse = async <E extends Tagged>(what: string, call: () => TaskEither<E, unknown>, tags: ReadonlyArray<string>): Promise<void> => {
  const outcome = await settle(what, call)
  if (outcome.ok) violation(`${what} succeeded; expected ${tags.join(' or ')}`)
  else if (!tags.includes(outcome.error._tag)) violation(`${what} returned ${show(outcome.error)}; expected ${tags.join(' or ')}`)
}

/** A device under test, with what it must report and hold. */
export interface Subject<E extends Tagged> {
  readonly device: BlockDevice<E>
  readonly sizeSectors: number
  readonly readWrite: boolean
  readonly sectorSize: number
  readonly contents: Uint8Array
}

/** Opens a device from `factory`, checks it reports what the factory promised, runs `body`, then releases it. */
export const withDevice = async <E extends Tagged>(factory: DeviceFactory<E>, body: (subject: Subject<E>) => Promise<void>): Promise<void> => {
  const fresh = await factory()
  try {
    const sectorSize = fresh.sectorSize ?? 512
    const contents = fresh.contents ?? new Uint8Array(fresh.sizeSectors * sectorSize)
    if (contents.byteLength !== fresh.sizeSectors * sectorSize) {
      violation(`the factory's contents have ${contents.byteLength} bytes, not ${fresh.sizeSectors} sectors of ${sectorSize}`)
    }
    const info: BlockInfo = await succeed('getInfo', () => fresh.device.getInfo())
    const expected = { readWrite: fresh.readWrite, sectorSize, sizeSectors: fresh.sizeSectors }
    if (info.readWrite !== expected.readWrite || info.sectorSize !== expected.sectorSize || info.sizeSectors !== expected.sizeSectors) {
      violation(`getInfo reported ${show(info)}; the factory promised ${show(expected)}`)
    }
    await body({ device: fresh.device, sizeSectors: fresh.sizeSectors, readWrite: fresh.readWrite, sectorSize, contents })
  } finally {
    await fresh.release?.()
  }
}
