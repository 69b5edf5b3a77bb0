// makeQcow: the functor from any BlockModule to a module of qcow2 devices stored on its devices.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice, BlockModule } from '../block/device.js'
import type { ConnectOptions, CreateOptions, QcowDevice, QcowModule } from './api.js'
import { attachBacking } from './backing/chain.js'
import { createImage } from './backing/create.js'
import { decodeConnectBacking } from './backing/options.js'
import { invalidImage, type QcowError } from './errors.js'
import { QcowDeviceImpl } from './device.js'
import { fail, guard } from './io/fault.js'
import { decodeConnectOptions } from './options.js'
import { checkNoOverlaps } from './maintenance/operations.js'
import { openImage } from './open.js'

/**
 * Builds the qcow2 module over devices of `Block` (RamDisk, a file device, another qcow module, ...).
 * The result is itself a BlockModule whose `connect` takes a base device. Devices do not own their
 * base: `disconnect` flushes the image and leaves the base device connected.
 */
export const makeQcow = <C, D extends BlockDevice<QcowError>>(Block: BlockModule<C, D, QcowError>): QcowModule<D> => ({
  name: `Qcow(${Block.name})`,
  create: (base: D, options: CreateOptions): TaskEither<QcowError, QcowDevice> => guard('create', () => createImage(base, options)),
  connect: (base: D, options?: ConnectOptions): TaskEither<QcowError, QcowDevice> =>
    guard('connect', async () => {
      const decoded = decodeConnectOptions(options)
      if (E.isLeft(decoded)) return fail(decoded.left)
      const backing = decodeConnectBacking(options)
      if (E.isLeft(backing)) return fail(backing.left)
      const img = await openImage(base, decoded.right)
      await attachBacking(img, backing.right)
      return new QcowDeviceImpl(img)
    }),
  Debug: {
    setNextCluster: (device: QcowDevice, hostCluster: number): TaskEither<QcowError, void> =>
      guard('setNextCluster', async () => {
        if (!(device instanceof QcowDeviceImpl)) return fail(invalidImage('setNextCluster needs a device made by makeQcow'))
        if (!Number.isSafeInteger(hostCluster) || hostCluster < 0) return fail(invalidImage(`host cluster ${hostCluster} is not a non-negative integer`))
        const img = device.image
        await img.allocLock.run(async () => img.refcounts.setNextFree(hostCluster))
      }),
    checkNoOverlaps: (device: QcowDevice): TaskEither<QcowError, void> =>
      guard('checkNoOverlaps', async () => {
        if (!(device instanceof QcowDeviceImpl)) return fail(invalidImage('checkNoOverlaps needs a device made by makeQcow'))
        await checkNoOverlaps(device.image)
      }),
  },
})
