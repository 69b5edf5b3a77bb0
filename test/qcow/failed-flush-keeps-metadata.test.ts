// Regression: metadata captured by a flush whose base write or barrier fails must be written by the next flush.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import { RamDisk, type RamDiskDevice } from '../../src/ramdisk/index.js'
import { faulty, type FaultPlan, type FaultyDevice } from '../../src/testing/index.js'
import { makeQcow } from '../../src/qcow/index.js'
import type { BlockError } from '../../src/block/errors.js'

const must = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left))
  return r.right
}

const data = new Uint8Array(512).fill(0xab)

/**
 * Creates an image over faulty(RamDisk), writes one sector into an unallocated cluster, flushes once
 * with the plan's faults on (that flush fails), flushes again without faults (succeeds), then reopens
 * a copy of the base device and reads the sector back.
 */
const scenario = async (plan: FaultPlan): Promise<Uint8Array> => {
  const ram: RamDiskDevice = must(await RamDisk.connect({ size: 0 })())
  const base = must(faulty(ram, { ...plan, enabled: false }))
  const Qcow = makeQcow({ name: 'faulty', connect: () => async () => E.left<BlockError, FaultyDevice<BlockError>>({ _tag: 'Unsupported', operation: 'connect' }) })
  const qcow = must(await Qcow.create(base, { size: 1024 * 1024, clusterSize: 4096 })())
  must(await qcow.flush()())
  must(await qcow.write(0, [data])())
  base.setEnabled(true)
  expect(E.isLeft(await qcow.flush()())).toBe(true)
  base.setEnabled(false)
  must(await qcow.flush()())
  const size = must(await ram.getInfo()()).sizeSectors
  const bytes = new Uint8Array(size * 512)
  must(await ram.read(0, [bytes])())
  const copy = must(await RamDisk.connect({ size: bytes.length })())
  must(await copy.write(0, [bytes])())
  const reopened = must(await makeQcow(RamDisk).connect(copy)())
  const back = new Uint8Array(512)
  must(await reopened.read(0, [back])())
  return back
}

describe('a flush that fails, followed by one that succeeds, must still make earlier writes durable', () => {
  it('when the base flush (barrier) fails', async () => {
    expect(await scenario({ from: { flush: 1 } })).toEqual(data)
  })
  it('when a base metadata write during the flush fails', async () => {
    expect(await scenario({ from: { write: 1 }, failedWrites: 'unchanged' })).toEqual(data)
  })
})
