// io-ts codecs for the backing-related options of create and connect (a trust boundary), with defaults and range checks.
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import type { BlockDevice } from '../../block/device.js'
import { invalidImage, type QcowError } from '../errors.js'
import { MAX_BACKING_FILE_SIZE, MAX_BACKING_FORMAT_LENGTH } from '../format/constants.js'
import { describeDecodeError } from '../options.js'
import type { BackingSource } from './chain.js'
import { denyImplicitOpen, type BackingGate } from './gate.js'

/** Backing layers allowed below an image unless `maxBackingDepth` says otherwise. */
export const DEFAULT_MAX_BACKING_DEPTH = 32
/** The largest `maxBackingDepth` accepted. */
const MAX_BACKING_DEPTH = 1024

const hasMethods = (u: unknown, names: ReadonlyArray<string>): boolean =>
  typeof u === 'object' && u !== null && names.every((n) => typeof (u as Record<string, unknown>)[n] === 'function')

const DeviceCodec = new t.Type<BlockDevice<QcowError>>(
  'BlockDevice',
  (u): u is BlockDevice<QcowError> => hasMethods(u, ['getInfo', 'read', 'write', 'flush', 'disconnect']),
  (u, c) => (hasMethods(u, ['getInfo', 'read', 'write', 'flush', 'disconnect']) ? t.success(u as BlockDevice<QcowError>) : t.failure(u, c)),
  t.identity,
)

const isGate = (u: unknown): u is BackingGate =>
  hasMethods(u, ['admit']) &&
  typeof (u as { probe?: unknown }).probe === 'boolean' &&
  ['undefined', 'function'].includes(typeof (u as { identify?: unknown }).identify)

const GateCodec = new t.Type<BackingGate>('BackingGate', isGate, (u, c) => (isGate(u) ? t.success(u) : t.failure(u, c)), t.identity)

const SourceFields = {
  backing: t.union([t.null, DeviceCodec]),
  gate: GateCodec,
  maxBackingDepth: t.number,
  imageName: t.string,
}

const ConnectBackingCodec = t.partial(SourceFields)
const CreateBackingCodec = t.partial({ ...SourceFields, backingFile: t.string, backingFormat: t.string })

/** The backing part of `Qcow.create` options, decoded. */
export interface CreateBacking extends BackingSource {
  readonly backingFile?: string
  readonly backingFormat?: string
}

const source = (o: t.TypeOf<typeof ConnectBackingCodec>, what: string): E.Either<QcowError, BackingSource> => {
  const maxDepth = o.maxBackingDepth ?? DEFAULT_MAX_BACKING_DEPTH
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_BACKING_DEPTH) {
    return E.left(invalidImage(`bad ${what} options: maxBackingDepth ${maxDepth} must be an integer from 0 to ${MAX_BACKING_DEPTH}`))
  }
  return E.right({
    gate: o.gate ?? denyImplicitOpen,
    maxDepth,
    ...(o.backing === undefined ? {} : { backing: o.backing }),
    ...(o.imageName === undefined ? {} : { imageName: o.imageName }),
  })
}

/** Decodes the backing part of `Qcow.connect` options (`backing`, `gate`, `maxBackingDepth`, `imageName`). */
export const decodeConnectBacking = (input: unknown): E.Either<QcowError, BackingSource> => {
  const decoded = ConnectBackingCodec.decode(input ?? {})
  if (E.isLeft(decoded)) return E.left(invalidImage(`bad connect options: ${describeDecodeError(decoded.left)}`))
  return source(decoded.right, 'connect')
}

/** Decodes the backing part of `Qcow.create` options, checking the name and format lengths QEMU allows. */
export const decodeCreateBacking = (input: unknown): E.Either<QcowError, CreateBacking> => {
  const decoded = CreateBackingCodec.decode(input ?? {})
  if (E.isLeft(decoded)) return E.left(invalidImage(`bad create options: ${describeDecodeError(decoded.left)}`))
  const o = decoded.right
  const { backingFile, backingFormat } = o
  if (backingFile !== undefined) {
    const bytes = new TextEncoder().encode(backingFile).byteLength
    if (bytes === 0 || bytes > MAX_BACKING_FILE_SIZE) return E.left(invalidImage(`backingFile must have 1 to ${MAX_BACKING_FILE_SIZE} bytes, not ${bytes}`))
  }
  if (backingFormat !== undefined) {
    const bytes = new TextEncoder().encode(backingFormat).byteLength
    if (bytes === 0 || bytes >= MAX_BACKING_FORMAT_LENGTH) return E.left(invalidImage(`backingFormat must have 1 to ${MAX_BACKING_FORMAT_LENGTH - 1} bytes`))
    if (backingFile === undefined) return E.left(invalidImage('backingFormat is given without backingFile'))
  }
  if (o.backing !== undefined && o.backing !== null && backingFile === undefined) {
    return E.left(invalidImage('a backing device is given without backingFile, the name to record in the header'))
  }
  return E.map((s: BackingSource): CreateBacking => ({ ...s, ...(backingFile === undefined ? {} : { backingFile }), ...(backingFormat === undefined ? {} : { backingFormat }) }))(
    source(o, 'create'),
  )
}
