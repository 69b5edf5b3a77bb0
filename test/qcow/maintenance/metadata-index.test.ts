// The metadata index kept current by change logs equals one built from scratch after random operation
// sequences (new L2 tables, new refcount blocks, refcount table growth, shrinking and growing resizes).
import fc from 'fast-check'
import { expect, it } from 'vitest'
import type { QcowDeviceImpl } from '../../../src/qcow/device.js'
import type { Image } from '../../../src/qcow/image.js'
import { activeMetadata, metadataOf, type Owners } from '../../../src/qcow/maintenance/metadata-index.js'
import { Qcow, pattern, ramDisk, run } from '../support/harness.js'

type Step =
  | { readonly kind: 'write'; readonly at: number; readonly sectors: number }
  | { readonly kind: 'zero'; readonly at: number; readonly sectors: number }
  | { readonly kind: 'resize'; readonly size: number }
  | { readonly kind: 'flush' }

/** A step, and whether to compare with a fresh build after it (a fresh build becomes the kept index, so not always). */
interface Op {
  readonly step: Step
  readonly compare: boolean
}

const SECTORS = 32768
const at = fc.integer({ min: 0, max: 999 }).map((n) => n / 1000)
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('write' as const), at, sectors: fc.integer({ min: 1, max: 160 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('zero' as const), at, sectors: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resize' as const), size: fc.integer({ min: 1, max: 2 * SECTORS }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
)
const op: fc.Arbitrary<Op> = fc.record({ step, compare: fc.integer({ min: 0, max: 3 }).map((n) => n === 0) })

/** The index as sorted entries, so two indexes compare whatever order their owners were added in. */
const canonical = (owners: Owners): Array<[number, string[]]> =>
  [...owners.entries()].map(([c, names]): [number, string[]] => [c, [...names].sort()]).sort((a, b) => a[0] - b[0])

it('the incrementally kept metadata index equals a fresh build after every operation', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.constantFrom(16, 64), async (ops, refcountBits) => {
      // 512-byte clusters: an L2 table maps 32 KiB, a refcount block 256 or 64 clusters, the first refcount table 64 blocks (outgrown with 64-bit refcounts).
      const disk = await ramDisk(64 * 1024)
      const device = await run(Qcow.create(disk, { size: SECTORS * 512, clusterSize: 512, refcountBits }))
      const img: Image = (device as unknown as QcowDeviceImpl).image
      await metadataOf(img)
      let size = SECTORS
      for (const [i, { step: o, compare }] of ops.entries()) {
        if (o.kind === 'write' || o.kind === 'zero') {
          const sectors = Math.min(o.sectors, size)
          const first = Math.min(size - sectors, Math.floor(o.at * size))
          if (o.kind === 'write') await run(device.write(first, [pattern(sectors * 512, first)]))
          else await run(device.writeZeroes(first, sectors, { unmap: true }))
        } else if (o.kind === 'resize') {
          await run(device.resize(o.size * 512, { allowShrink: true }))
          size = o.size
        } else await run(device.flush())
        const kept = canonical(await metadataOf(img))
        if (!compare && i < ops.length - 1) continue
        const fresh = canonical((await activeMetadata(img)).index.owners)
        expect(kept).toEqual(fresh)
      }
      await run(device.disconnect())
    }),
    { numRuns: 40 },
  )
})
