// Public surface of the qcow2 engine: makeQcow, its types and errors.
export { makeQcow } from './module.js'
export type { BackingLayerInfo, BackingOptions, ConnectOptions, RebaseOptions, CreateOptions, FeatureName, HeaderExtension, QcowDevice, QcowHeader, QcowModule, CheckReport, MapExtent, RepairOptions, RepairReport, ResizeOptions, WriteZeroesOptions } from './api.js'
export * from './errors.js'
export type { ClusterCodec } from './compression/index.js'
export { allowList, denyImplicitOpen, permissive } from './backing/gate.js'
export type { AdmittedBacking, BackingGate, BackingOpenMode, GateOptions, IdentifyBacking, OpenBacking } from './backing/gate.js'
