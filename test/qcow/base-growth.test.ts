// The step by which the engine grows its base device: enough for the write, sector-aligned, and
// bounded so a large image never grows by more than 64 MiB past what it needs.
import { describe, expect } from 'vitest'
import { fc, test } from '@fast-check/vitest'
import { BASE_SECTOR, growthTarget } from '../../src/qcow/io/base-io.js'

const MiB = 1024 * 1024
const sectors = (max: number) => fc.integer({ min: 0, max: max / BASE_SECTOR }).map((n) => n * BASE_SECTOR)

describe('growthTarget', () => {
  test.prop([sectors(2 ** 44), fc.integer({ min: 1, max: 2 ** 30 }), fc.boolean()])(
    'holds the bytes, ends on a sector, and adds at most max(8 MiB, min(size / 4, 64 MiB))',
    (before, extra, exact) => {
      const bytes = before + extra
      const target = growthTarget(before, bytes, exact)
      expect(target % BASE_SECTOR).toBe(0)
      expect(target).toBeGreaterThanOrEqual(bytes)
      const allowed = exact ? 0 : Math.max(8 * MiB, Math.min(before / 4, 64 * MiB))
      expect(target - bytes).toBeLessThan(allowed + BASE_SECTOR)
    },
  )

  test.prop([sectors(2 ** 44), fc.integer({ min: 1, max: 2 ** 30 })])(
    'grows by at least 8 MiB beyond the write unless asked for the exact size',
    (before, extra) => {
      const bytes = before + extra
      expect(growthTarget(before, bytes, false) - bytes).toBeGreaterThanOrEqual(8 * MiB)
    },
  )
})
