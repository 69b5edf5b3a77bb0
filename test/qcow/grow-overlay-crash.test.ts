// Crash safety of growing an overlay over a longer backing: after a cut at any write, the new space is absent or reads as zeroes.
import { describe, expect, it } from 'vitest'
import * as E from 'fp-ts/lib/Either.js'
import type { CreateOptions } from '../../src/qcow/api.js'
import type { KeepStrategy } from '../../src/testing/index.js'
import { RamQcow, RecordedQcow, RecordedRamDisk, engineCheck } from '../support/crash-harness.js'
import { verifyQcow } from '../support/qcow-verify.js'
import { diskWith, pattern } from './support/harness.js'

const must = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left))
  return r.right
}

const KiB = 1024

interface GrowCase {
  readonly name: string
  readonly create: CreateOptions
  readonly oldSize: number
  readonly newSize: number
  readonly backingSize: number
}

const CASES: ReadonlyArray<GrowCase> = [
  { name: 'version 3, 4 KiB clusters, unaligned old size, backing ending inside the new space', create: { clusterSize: 4096 }, oldSize: 20 * KiB + 512, newSize: 300 * KiB, backingSize: 256 * KiB },
  { name: 'version 3, 512 B clusters, a larger L1 table', create: { clusterSize: 512 }, oldSize: 20 * KiB + 512, newSize: 100 * KiB, backingSize: 120 * KiB },
  { name: 'version 3, 512 B clusters, lazy refcounts, a larger L1 table', create: { clusterSize: 512, lazyRefcounts: true }, oldSize: 30 * KiB, newSize: 90 * KiB, backingSize: 80 * KiB },
  { name: 'version 2, 4 KiB clusters, zero data', create: { clusterSize: 4096, compat: '0.10' }, oldSize: 20 * KiB + 512, newSize: 60 * KiB, backingSize: 256 * KiB },
  { name: 'version 2, 512 B clusters, zero data and a larger L1 table', create: { clusterSize: 512, compat: '0.10' }, oldSize: 20 * KiB + 512, newSize: 70 * KiB, backingSize: 120 * KiB },
]

const KEEPS: ReadonlyArray<KeepStrategy> = ['none', 'all', 'random']

describe('a crash while growing an overlay over a longer backing never shows backing data in the new space', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const backing = await diskWith(pattern(c.backingSize, 41))
      const rec = must(await RecordedRamDisk.connect({ size: 0 })())
      const qcow = must(await RecordedQcow.create(rec, { ...c.create, size: c.oldSize, backingFile: 'base.raw', backingFormat: 'raw', backing })())
      must(await qcow.write(3, [pattern(5 * 512, 42)])())
      must(await qcow.flush()())
      const before = new Uint8Array(c.oldSize)
      must(await qcow.read(0, [before])())
      const from = rec.operations()
      must(await qcow.resize(c.newSize, {})())
      must(await qcow.flush()())
      const grown = new Uint8Array(c.newSize)
      must(await qcow.read(0, [grown])())
      expect(grown.subarray(c.oldSize).every((b) => b === 0)).toBe(true)
      const cuts = Array.from({ length: rec.operations() - from + 1 }, (_, i) => from + i)
      const problems: string[] = []
      const sizes = new Set<number>()
      for (const keep of KEEPS) {
        for (const image of must(await rec.crashImages({ cuts, keep, seed: 5 })())) {
          const at = `cut ${image.cutAt} (${keep})`
          const raw = image.bytes()
          const verified = verifyQcow(raw)
          const corruptions = verified.dirty ? verifyQcow(raw, { skipRefcounts: true }).corruptions : verified.corruptions
          if (corruptions.length > 0) problems.push(`${at}: ${corruptions.slice(0, 2).join('; ')}`)
          const reopened = must(await RamQcow.connect(must(await image.toRamDisk()()), { backing })())
          const size = must(await reopened.getInfo()()).sizeSectors * 512
          sizes.add(size)
          if (size !== c.oldSize && size !== c.newSize) problems.push(`${at}: size ${size}`)
          const guest = new Uint8Array(size)
          must(await reopened.read(0, [guest])())
          if (!guest.subarray(0, c.oldSize).every((b, i) => b === before[i])) problems.push(`${at}: the old space changed`)
          const shown = guest.subarray(c.oldSize).findIndex((b) => b !== 0)
          if (shown >= 0) problems.push(`${at}: byte ${c.oldSize + shown} of the new space is not zero`)
          const checked = must(await engineCheck(reopened)!())
          if (checked.corruptions > 0) problems.push(`${at}: check() ${checked.problems.slice(0, 2).join('; ')}`)
          must(await reopened.disconnect()())
        }
      }
      expect(problems).toEqual([])
      expect([...sizes].sort((a, b) => a - b)).toEqual([c.oldSize, c.newSize])
    })
  }
})
