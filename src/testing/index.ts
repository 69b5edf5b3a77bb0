// Public surface of the test devices: fault injection (faulty) and crash recording (recorder).
export * from './prng.js'
export * from './fault-plan.js'
export * from './faulty.js'
export * from './sparse-image.js'
export * from './crash-log.js'
export * from './crash-image.js'
export * from './recorder.js'
