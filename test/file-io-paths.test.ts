// FileBlock's two I/O paths (synchronous up to SYNC_MAX_BYTES, the thread pool above) against a byte-array model.
import { fc, test } from '@fast-check/vitest'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect } from 'vitest'
import { FileBlock } from '../src/file/index.js'
import { SYNC_MAX_BYTES } from '../src/file/io.js'
import { right, sameBytes, tempDir } from './helpers.js'
import { issueAgainstModel } from './support/model-requests.js'

const SECTOR = 512
const DEVICE_SECTORS = 4 * (SYNC_MAX_BYTES / SECTOR)
/** Requests from one sector to twice the synchronous limit, so both paths and the boundary are hit. */
const sectorsArb = fc.integer({ min: 1, max: (2 * SYNC_MAX_BYTES) / SECTOR })
/** One request: its start, its length in sectors, and how its bytes are split into two buffers. */
const requestArb = sectorsArb.chain((sectors) =>
  fc.record({
    sector: fc.integer({ min: 0, max: DEVICE_SECTORS - sectors }),
    sectors: fc.constant(sectors),
    split: fc.integer({ min: 0, max: sectors }),
    write: fc.boolean(),
    seed: fc.nat(255),
  }),
)

let dir: { readonly path: string; remove(): Promise<void> }
beforeAll(async () => {
  dir = await tempDir()
})
afterAll(async () => {
  await dir.remove()
})

describe('FileBlock I/O paths', () => {
  test.prop([fc.array(requestArb, { minLength: 1, maxLength: 24 })], { numRuns: 30 })(
    'concurrent reads and writes of sizes around SYNC_MAX_BYTES read back what a model holds',
    async (requests) => {
      const path = join(dir.path, `paths-${Math.random().toString(36).slice(2)}.img`)
      const device = right(await FileBlock.connect({ path, create: true })())
      right(await device.resize(DEVICE_SECTORS)())
      const model = new Uint8Array(DEVICE_SECTORS * SECTOR)
      // Requests are issued together; overlapping ones must behave as if run one at a time, in order.
      await issueAgainstModel(
        device,
        model,
        requests.map((r) => ({ ...r, cuts: [r.split * SECTOR] })),
      )
      right(await device.flush()())
      right(await device.disconnect()())
      expect(sameBytes(new Uint8Array(await readFile(path)), model)).toBe(true)
    },
  )
})
