// Public surface of the block layer: the contract, its errors, validation and buffer helpers.
export * from './device.js'
export * from './errors.js'
export * from './validate.js'
export * from './buffers.js'
export * from './task.js'
