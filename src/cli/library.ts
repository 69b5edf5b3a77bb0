// The parts of qcow-ts the command uses; the qcow2 engine is not exported from src/index.ts yet.
export { FileBlock, isZero, type BlockDevice, type FileBlockDevice } from '../index.js'
export { describeError, unsupportedFeature, type QcowError } from '../qcow/errors.js'
export type { QcowDevice, QcowHeader } from '../qcow/api.js'
