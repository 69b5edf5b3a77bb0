// Public surface of the block layer: the contract, its errors, validation, buffer helpers and combinators.
export * from './device.js'
export * from './errors.js'
export * from './validate.js'
export * from './buffers.js'
export * from './task.js'
export * from './decode.js'
export * from './readonly.js'
export * from './slice.js'
