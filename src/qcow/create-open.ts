// Qcow.create: decode options, format the base device, then open it read-write.
import * as E from 'fp-ts/lib/Either.js'
import type { BlockDevice } from '../block/device.js'
import type { QcowDevice } from './api.js'
import { formatImage } from './create.js'
import { QcowDeviceImpl } from './device.js'
import type { QcowError } from './errors.js'
import { fail } from './io/fault.js'
import { openImage } from './open.js'
import { decodeCreateOptions } from './options.js'

/** Formats `base` as a new image with `options` (decoded here: they come from callers) and opens it. */
export const create = async (base: BlockDevice<QcowError>, options: unknown): Promise<QcowDevice> => {
  const decoded = decodeCreateOptions(options)
  if (E.isLeft(decoded)) return fail(decoded.left)
  const zeroFrom = await formatImage(base, decoded.right)
  return new QcowDeviceImpl(await openImage(base, { readOnly: false }, { zeroFrom }))
}
