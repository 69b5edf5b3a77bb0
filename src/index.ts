// qcow-ts public exports.
export * from './block/index.js'
export * from './ramdisk/index.js'
export * from './qcow/index.js'
export * from './file/index.js'
export * from './file/backing-gates.js'
export * from './testing/index.js'
