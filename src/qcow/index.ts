// Public surface of the qcow2 engine: makeQcow, its types and errors.
export { makeQcow } from './module.js'
export type { ConnectOptions, CreateOptions, FeatureName, HeaderExtension, QcowDevice, QcowHeader, QcowModule } from './api.js'
export * from './errors.js'
export type { ClusterCodec } from './compression/index.js'
