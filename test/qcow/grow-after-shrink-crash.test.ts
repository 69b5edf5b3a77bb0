// Regression: a crash while growing after a shrink must not expose the data the shrink cut off.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import { RecordedQcow, RecordedRamDisk, RamQcow } from '../support/crash-harness.js'

const must = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left))
  return r.right
}

describe('a crash while growing after a shrink must not resurrect the data the shrink cut off', () => {
  for (const lazyRefcounts of [true, false]) {
    it(`64 KiB clusters, lazy refcounts ${lazyRefcounts ? 'on' : 'off'}`, async () => {
      const rec = must(await RecordedRamDisk.connect({ size: 0 })())
      const qcow = must(await RecordedQcow.create(rec, { size: 2 * 1024 * 1024, clusterSize: 65536, lazyRefcounts })())
      const data = new Uint8Array(43 * 512).fill(0x5a)
      must(await qcow.write(3194, [data])())
      must(await qcow.flush()())
      must(await qcow.resize!(3143)())
      must(await qcow.flush()())
      const from = rec.operations()
      must(await qcow.resize!(4608)())
      must(await qcow.flush()())
      const cuts = Array.from({ length: rec.operations() - from + 1 }, (_, i) => from + i)
      const exposed: string[] = []
      for (const image of must(await rec.crashImages({ cuts, keep: 'none' })())) {
        const reopened = must(await RamQcow.connect(must(await image.toRamDisk()()))())
        const size = must(await reopened.getInfo()()).sizeSectors
        if (size <= 3194) continue
        const sector = new Uint8Array(512)
        must(await reopened.read(3194, [sector])())
        if (sector.some((b) => b !== 0)) exposed.push(`cut ${image.cutAt}: size ${size}, sector 3194 holds pre-shrink data`)
      }
      expect(exposed).toEqual([])
    })
  }
})
