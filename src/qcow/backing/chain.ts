// Opening a backing chain: the header's backing name through the gate, recursively, refusing loops and chains too deep.
import type { BlockDevice } from '../../block/device.js'
import { QcowDeviceImpl, QCOW_SECTOR_SIZE } from '../device.js'
import { backingRefused, unsupportedFeature, type QcowError } from '../errors.js'
import { QCOW_MAGIC } from '../format/constants.js'
import type { Image } from '../image.js'
import { fail, must } from '../io/fault.js'
import { zeroLayer, type LowerLayer } from '../io/unallocated.js'
import { openImage } from '../open.js'
import type { AdmittedBacking, BackingGate } from './gate.js'
import { BackingLayer, describeGiven, givenLower, type BackingDescription, type BackingFormat } from './layer.js'

/** How the backing files named by headers are opened. */
export interface ChainOptions {
  readonly gate: BackingGate
  /** The most backing files below the image being opened; one more is refused with `TooDeep`. */
  readonly maxDepth: number
}

/** Where the backing of an image comes from: a device given by the caller (null: none), or the header through the gate. */
export interface BackingSource extends ChainOptions {
  readonly backing?: BlockDevice<QcowError> | null
  /** The image's own name for the gate's `identify`, so a chain leading back to it is a loop. */
  readonly imageName?: string
}

/** The keys a chain below the image of `source` must not reach: the image's own identity, when the gate and `imageName` give it. */
export const chainStart = async (source: BackingSource): Promise<ReadonlySet<string>> => {
  const { gate, imageName } = source
  if (imageName === undefined || gate.identify === undefined) return new Set()
  return new Set([await must(gate.identify(imageName))])
}

/** Reads sector 0 of `device` and recognises the qcow2 magic; anything else is raw. */
const probeFormat = async (device: BlockDevice<QcowError>): Promise<BackingFormat> => {
  const info = await must(device.getInfo())
  if (info.sizeSectors === 0 || info.sectorSize < 4) return 'raw'
  const sector = new Uint8Array(info.sectorSize)
  await must(device.read(0, [sector]))
  return new DataView(sector.buffer).getUint32(0) === QCOW_MAGIC ? 'qcow2' : 'raw'
}

/** Checks a header's backing format: absent, raw or qcow2. */
const knownFormat = (format: string | undefined): BackingFormat | undefined => {
  if (format === undefined || format === 'raw' || format === 'qcow2') return format
  return fail(unsupportedFeature(`backing format '${format}'`, 'only raw and qcow2 backing files are supported'))
}

/**
 * Opens the backing file `name` (the `depth`-th below the image that asked), read-only, through the
 * gate; a qcow2 backing has its own backing opened the same way. `seen` holds the keys of the files
 * already in the chain. On failure everything opened here is closed again.
 */
export const openNamedBacking = async (
  name: string,
  format: string | undefined,
  o: ChainOptions,
  depth: number,
  seen: ReadonlySet<string>,
): Promise<BackingDescription> => {
  if (depth > o.maxDepth) fail(backingRefused(name, 'TooDeep', `the backing chain is deeper than the limit of ${o.maxDepth}`))
  const declared = knownFormat(format)
  const admitted = await must(o.gate.admit(name))
  if (seen.has(admitted.key)) fail(backingRefused(name, 'Loop', 'the backing chain loops back to a file already in it'))
  return openAdmitted(admitted, name, declared, o, depth, new Set([...seen, admitted.key]), true)
}

/** Opens an admitted backing file (probing its format when undefined and the gate allows) and, for qcow2, the chain below it. */
const openAdmitted = async (
  admitted: AdmittedBacking,
  name: string,
  format: BackingFormat | undefined,
  o: ChainOptions,
  depth: number,
  seen: ReadonlySet<string>,
  readOnly: boolean,
): Promise<BackingDescription> => {
  const file = await must(admitted.open({ readOnly }))
  try {
    const kind = format ?? (o.gate.probe ? await probeFormat(file) : 'raw')
    const reopenWritable = (): Promise<BackingDescription> => openAdmitted(admitted, name, kind, o, depth, seen, false)
    if (kind === 'raw') return { ...(await describeGiven(file, 'raw', name)), owned: [file], reopenWritable }
    const img = await openImage(file, { readOnly })
    img.lower = await lowerFor(img, o, depth + 1, seen)
    const device = new QcowDeviceImpl(img)
    const sizeBytes = Math.floor(img.header.size / QCOW_SECTOR_SIZE) * QCOW_SECTOR_SIZE
    return { device, format: 'qcow2', name, sectorSize: QCOW_SECTOR_SIZE, sizeBytes, owned: [device, file], reopenWritable }
  } catch (e) {
    await file.disconnect()()
    throw e
  }
}

/** The lower layer of `img` from its header: zeroes without a backing name, else the named chain. */
const lowerFor = async (img: Image, o: ChainOptions, depth: number, seen: ReadonlySet<string>): Promise<LowerLayer> => {
  const name = img.header.backingFile
  if (name === undefined) return zeroLayer
  return new BackingLayer(await openNamedBacking(name, img.header.backingFormat, o, depth, seen))
}

/** Attaches the backing of a freshly opened top image: the given device, or the header's chain through the gate. */
export const attachBacking = async (img: Image, source: BackingSource): Promise<void> => {
  img.lower = source.backing === undefined ? await lowerFor(img, source, 1, await chainStart(source)) : await givenLower(source.backing, img.header.backingFile)
}
