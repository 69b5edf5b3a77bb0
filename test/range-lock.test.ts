// RangeLock: conflicting holders never overlap in time, disjoint or shared ones never wait, and every request gets its turn.
import { describe, expect, it } from 'vitest'
import { fc, test } from '@fast-check/vitest'
import { RangeLock } from '../src/block/range-lock.js'

const requestArb = fc.record({ start: fc.nat(20), length: fc.nat(6), exclusive: fc.boolean(), hold: fc.nat(3) })

describe('RangeLock', () => {
  test.prop([fc.array(requestArb, { minLength: 1, maxLength: 16 })], { numRuns: 200 })(
    'holders of overlapping ranges, one of them exclusive, are never active together',
    async (requests) => {
      const lock = new RangeLock()
      const active = new Set<(typeof requests)[number]>()
      const conflict = (a: (typeof requests)[number], b: (typeof requests)[number]): boolean =>
        a.start < b.start + b.length && b.start < a.start + a.length && (a.exclusive || b.exclusive)
      await Promise.all(
        requests.map((r) =>
          lock.with(r.start, r.start + r.length, r.exclusive, async () => {
            for (const other of active) expect(conflict(r, other)).toBe(false)
            active.add(r)
            for (let i = 0; i < r.hold; i++) await new Promise((resolve) => setTimeout(resolve, 0))
            active.delete(r)
          }),
        ),
      )
    },
  )

  it('grants a disjoint range, or a shared one over shared holders, at once; a conflicting one waits for release', async () => {
    const lock = new RangeLock()
    const releaseWriter = await lock.acquire(0, 10, true)
    const releaseReader = await lock.acquire(10, 20, false)
    const releaseSecondReader = await lock.acquire(12, 15, false)
    let granted = false
    const waiting = lock.acquire(5, 12, true).then((release) => {
      granted = true
      return release
    })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(granted).toBe(false)
    releaseWriter()
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(granted).toBe(false)
    releaseReader()
    ;(await waiting)()
    expect(granted).toBe(true)
    releaseSecondReader()
  })
})
