// The backing layer: unallocated guest bytes read from a backing device at the same offset, zeroes past its end.
import * as E from 'fp-ts/lib/Either.js'
import { scatter, sliceBuffers, zeroFill } from '../../block/buffers.js'
import type { BlockDevice } from '../../block/device.js'
import type { BackingLayerInfo, QcowDevice } from '../api.js'
import type { QcowError } from '../errors.js'
import { fail, must } from '../io/fault.js'
import { zeroLayer, type LowerLayer } from '../io/unallocated.js'

/** The formats a backing device can have. */
export type BackingFormat = 'raw' | 'qcow2'

/** What is known about a backing device once it is open. */
export interface BackingDescription {
  readonly device: BlockDevice<QcowError>
  readonly format: BackingFormat
  /** The name the header records (undefined for a device given without one). */
  readonly name?: string
  readonly sectorSize: number
  /** Bytes of guest data the device holds; guest bytes past it read as zeroes. */
  readonly sizeBytes: number
  /** Devices this layer opened and closes, in closing order (a qcow device before the file under it). */
  readonly owned: ReadonlyArray<BlockDevice<QcowError>>
  /** Opens the same backing again, writable, through the gate that admitted it (absent for a given device). */
  readonly reopenWritable?: () => Promise<BackingDescription>
}

/** A device duck-typed as a qcow device (it reports a qcow2 header). */
export const looksLikeQcow = (device: BlockDevice<QcowError>): boolean => typeof (device as { header?: unknown }).header === 'function'

/** A LowerLayer over a backing device: reads at the same guest offset, zeroes past the device's end. */
export class BackingLayer implements LowerLayer {
  readonly allZero = false

  constructor(readonly backing: BackingDescription) {}

  async read(guestOffset: number, buffers: ReadonlyArray<Uint8Array>, at: number, length: number): Promise<void> {
    const { device, sectorSize, sizeBytes } = this.backing
    const inside = Math.max(0, Math.min(length, sizeBytes - guestOffset))
    if (inside < length) zeroFill(buffers, at + inside, length - inside)
    if (inside === 0) return
    if (guestOffset % sectorSize === 0 && inside % sectorSize === 0) {
      await must(device.read(guestOffset / sectorSize, sliceBuffers(buffers, at, inside)))
      return
    }
    const first = Math.floor(guestOffset / sectorSize)
    const last = Math.ceil((guestOffset + inside) / sectorSize)
    const bounce = new Uint8Array((last - first) * sectorSize)
    await must(device.read(first, [bounce]))
    const skip = guestOffset - first * sectorSize
    scatter(bounce.subarray(skip, skip + inside), buffers, at)
  }

  /** Disconnects the devices this layer opened (not a device the caller gave). */
  async close(): Promise<void> {
    let failure: QcowError | undefined
    for (const d of this.backing.owned) {
      const r = await d.disconnect()()
      if (E.isLeft(r) && failure === undefined) failure = r.left
    }
    if (failure !== undefined) fail(failure)
  }
}

/** The backing layer of an image, or undefined when its unallocated bytes read as zeroes. */
export const backingOf = (lower: LowerLayer): BackingLayer | undefined => (lower instanceof BackingLayer ? lower : undefined)

/** Describes a device the caller gave as the backing (not owned: the caller disconnects it). */
export const describeGiven = async (device: BlockDevice<QcowError>, format: BackingFormat, name?: string): Promise<BackingDescription> => {
  const info = await must(device.getInfo())
  return { device, format, ...(name === undefined ? {} : { name }), sectorSize: info.sectorSize, sizeBytes: info.sizeSectors * info.sectorSize, owned: [] }
}

/** The lower layer for a device the caller gave as the backing (null: none); the caller keeps ownership. */
export const givenLower = async (device: BlockDevice<QcowError> | null, name?: string): Promise<LowerLayer> =>
  device === null ? zeroLayer : new BackingLayer(await describeGiven(device, looksLikeQcow(device) ? 'qcow2' : 'raw', name))

/** The backing layers below `lower`, nearest first: a qcow2 backing contributes its own chain. */
export const listChain = async (lower: LowerLayer): Promise<BackingLayerInfo[]> => {
  const layer = backingOf(lower)
  if (layer === undefined) return []
  const { device, format, name, sizeBytes } = layer.backing
  const below = looksLikeQcow(device) ? await must((device as QcowDevice).backingChain()) : []
  return [{ device, format, sizeBytes, ...(name === undefined ? {} : { name }) }, ...below]
}
