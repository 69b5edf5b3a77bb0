// Opening and creating qcow2 images over files (waiting for the engine's makeQcow).
import * as TE from 'fp-ts/lib/TaskEither.js'
import type { CreateOptions } from '../qcow/api.js'
import { unsupportedFeature, type FileBlockDevice, type QcowDevice, type QcowError } from './library.js'

/** Opens the qcow2 image stored in `file`. */
export const connectQcow2 = (_file: FileBlockDevice, _readOnly: boolean): TE.TaskEither<QcowError, QcowDevice> =>
  TE.left(unsupportedFeature('qcow2', 'the qcow2 engine is not built yet'))

/** Formats `file` as a new qcow2 image. */
export const createQcow2 = (_file: FileBlockDevice, _options: CreateOptions): TE.TaskEither<QcowError, QcowDevice> =>
  TE.left(unsupportedFeature('qcow2', 'the qcow2 engine is not built yet'))
