// The conformance laws every BlockDevice must satisfy, as fast-check properties over a device factory.
import * as fc from 'fast-check'
import { argumentsLaw, badCallsArb } from './laws/arguments.js'
import { concurrencyLaw, concurrentArbs } from './laws/concurrency.js'
import { disconnectArb, disconnectLaw } from './laws/disconnect.js'
import { sequencesArb, sequencesLaw } from './laws/sequences.js'
import type { DeviceFactory, Law, LawOptions, Tagged } from './types.js'

export type { DeviceFactory, FreshDevice, Law, LawOptions, Tagged } from './types.js'
export { LawViolation } from './harness.js'

/**
 * The laws a device must satisfy, each run over fresh devices from `factory`:
 * read-after-write against a byte-array model under random request sequences (scatter/gather
 * buffers of random shapes, flushes, and discard / writeZeroes / resize when offered; seekMapped /
 * seekUnmapped when offered answer within the device, and every run they report unmapped reads as
 * zeroes; read-only
 * devices must refuse every change with `ReadOnly`); bad arguments return the right tag and change
 * nothing; disconnect; and concurrent overlapping requests. In every law, a call that throws,
 * rejects or returns something other than an Either with a tagged error is a violation.
 *
 * Works for any `BlockDevice<E>` whose errors carry a `_tag`. Needs the `fast-check` package.
 *
 * @example for (const law of conformanceLaws(factory)) it(law.name, law.run)
 */
export const conformanceLaws = <E extends Tagged>(factory: DeviceFactory<E>, options: LawOptions = {}): ReadonlyArray<Law> => {
  const parameters: fc.Parameters<unknown> = {
    numRuns: options.numRuns ?? 100,
    timeout: options.timeoutMs ?? 10_000,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
  }
  const law = <T>(name: string, arbitrary: fc.Arbitrary<T>, body: (value: T) => Promise<void>): Law => ({
    name,
    run: () => fc.assert(fc.asyncProperty(arbitrary, body), parameters as fc.Parameters<[T]>),
  })
  return [
    law('reads return what a byte-array model holds after random requests', sequencesArb, sequencesLaw(factory)),
    law('bad arguments return OutOfRange or Misaligned and change nothing', badCallsArb, argumentsLaw(factory)),
    law('requests in flight settle at disconnect and later calls return Disconnected', disconnectArb, disconnectLaw(factory)),
    law('concurrent overlapping requests leave every sector old or whole from one request', concurrentArbs, concurrencyLaw(factory)),
  ]
}
