// Qcow.create with a backing file: open the backing first (its size is the default), format, then record its name.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../../block/device.js'
import type { QcowDevice } from '../api.js'
import { formatImage } from '../create.js'
import { create as createPlain } from '../create-open.js'
import { QcowDeviceImpl } from '../device.js'
import { invalidImage, type QcowError } from '../errors.js'
import { createLayout } from '../format/layout.js'
import { fail } from '../io/fault.js'
import type { LowerLayer } from '../io/unallocated.js'
import { openImage } from '../open.js'
import { decodeCreateOptions } from '../options.js'
import { chainStart, openNamedBacking } from './chain.js'
import { withBacking } from './header.js'
import { BackingLayer, backingOf, givenLower } from './layer.js'
import { decodeCreateBacking, type CreateBacking } from './options.js'

/** The lower layer of a new overlay: the given device (null: none) or the named file through the gate. */
const lowerForCreate = async (b: CreateBacking, name: string): Promise<LowerLayer> =>
  b.backing !== undefined ? givenLower(b.backing, name) : new BackingLayer(await openNamedBacking(name, b.backingFormat, b, 1, await chainStart(b)))

/**
 * Formats `base` as a new image and opens it read-write. With `backingFile`, the backing is opened
 * first (the given `backing` device, or the name through the gate), the size defaults to its size,
 * and the name and format are recorded in the header. `base` is first used (getInfo, in
 * `formatImage`) only once the backing is open and the options are checked.
 */
export const createImage = async (base: BlockDevice<QcowError>, options: unknown): Promise<QcowDevice> => {
  const decoded = decodeCreateBacking(options)
  if (E.isLeft(decoded)) return fail(decoded.left)
  const b = decoded.right
  if (b.backingFile === undefined) return createPlain(base, options)
  const lower = await lowerForCreate(b, b.backingFile)
  try {
    const layer = backingOf(lower)
    const given = (options as { size?: unknown }).size
    const size = given ?? layer?.backing.sizeBytes ?? fail(invalidImage('size is required when the backing file is not opened'))
    const params = decodeCreateOptions({ ...(options as object), size })
    if (E.isLeft(params)) return fail(params.left)
    const format = b.backingFormat ?? layer?.backing.format
    const name = { file: b.backingFile, ...(format === undefined ? {} : { format }) }
    const checked = withBacking(createLayout(params.right).header, name)
    if (E.isLeft(checked)) return fail(checked.left)
    const zeroFrom = await formatImage(base, params.right)
    const img = await openImage(base, { readOnly: false }, { zeroFrom })
    const header = withBacking(img.header, name)
    if (E.isLeft(header)) return fail(header.left)
    await img.updateHeader(header.right)
    img.lower = lower
    return new QcowDeviceImpl(img)
  } catch (e) {
    await backingOf(lower)
      ?.close()
      .catch(() => undefined)
    throw e
  }
}
