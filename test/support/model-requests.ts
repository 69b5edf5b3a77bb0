// Issues concurrent reads and writes to a device and checks them against a byte-array model of its content.
import { expect } from 'vitest'
import type { BlockDevice } from '../../src/block/device.js'
import { pattern, right, sameBytes } from '../helpers.js'

/** Sector size of the devices these requests go to. */
const SECTOR = 512

/** One request: its range in sectors, where its bytes are cut into buffers (byte offsets), its kind and data seed. */
export interface ModelRequest {
  readonly sector: number
  readonly sectors: number
  readonly cuts: ReadonlyArray<number>
  readonly write: boolean
  readonly seed: number
}

/**
 * Issues every request at once and expects them to behave as if run one at a time in issue order:
 * each read returns what `model` held when it was issued, and each write updates `model` (so that
 * afterwards it holds what the device should).
 */
export const issueAgainstModel = async (device: BlockDevice<unknown>, model: Uint8Array, requests: ReadonlyArray<ModelRequest>): Promise<void> => {
  const pending = requests.map((r) => {
    const bytes = pattern(r.sectors * SECTOR, r.seed)
    const edges = [0, ...r.cuts, bytes.byteLength]
    const buffers = edges.slice(1).map((end, i) => bytes.subarray(edges[i], end))
    if (r.write) {
      model.set(bytes, r.sector * SECTOR)
      return device.write(r.sector, buffers)().then((result) => ({ result, expected: undefined, bytes }))
    }
    const expected = model.slice(r.sector * SECTOR, (r.sector + r.sectors) * SECTOR)
    bytes.fill(0xee)
    return device.read(r.sector, buffers)().then((result) => ({ result, expected, bytes }))
  })
  for (const { result, expected, bytes } of await Promise.all(pending)) {
    right(result)
    if (expected !== undefined) expect(sameBytes(bytes, expected)).toBe(true)
  }
}
