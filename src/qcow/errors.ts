// The qcow error union: every BlockError plus the ways an image can be refused or found broken.
import { describeBlockError, type BlockError } from '../block/errors.js'

/** The image was refused on open (or on create): the reason says which field or limit. */
export interface InvalidImage { readonly _tag: 'InvalidImage'; readonly reason: string }
/** Metadata found inconsistent while running; on a writable image the corrupt bit is then set. */
export interface Corrupt { readonly _tag: 'Corrupt'; readonly reason: string }
/** The image uses a feature this library does not implement; `feature` names it. */
export interface UnsupportedFeature { readonly _tag: 'UnsupportedFeature'; readonly feature: string; readonly reason?: string }
/** The base device is full and cannot grow. */
export interface NoSpace { readonly _tag: 'NoSpace'; readonly reason: string }

/** The rule a backing gate or the chain opener applied when it refused a backing file. */
export type BackingRule =
  | 'ImplicitOpenDenied'
  | 'NotAllowed'
  | 'AbsolutePath'
  | 'ParentEscape'
  | 'Protocol'
  | 'OutsideDirectory'
  | 'Loop'
  | 'TooDeep'
/** A backing file named by an image was not opened: `name` is the name as the header gives it. */
export interface BackingRefused { readonly _tag: 'BackingRefused'; readonly name: string; readonly rule: BackingRule; readonly reason: string }

/** Every error a qcow device or module can return. */
export type QcowError = BlockError | InvalidImage | Corrupt | UnsupportedFeature | NoSpace | BackingRefused

/** Builds an `InvalidImage` error. */
export const invalidImage = (reason: string): InvalidImage => ({ _tag: 'InvalidImage', reason })
/** Builds a `Corrupt` error. */
export const corrupt = (reason: string): Corrupt => ({ _tag: 'Corrupt', reason })
/** Builds an `UnsupportedFeature` error. */
export const unsupportedFeature = (feature: string, reason?: string): UnsupportedFeature =>
  reason === undefined ? { _tag: 'UnsupportedFeature', feature } : { _tag: 'UnsupportedFeature', feature, reason }
/** Builds a `NoSpace` error. */
export const noSpace = (reason: string): NoSpace => ({ _tag: 'NoSpace', reason })

/** Builds a `BackingRefused` error. */
export const backingRefused = (name: string, rule: BackingRule, reason: string): BackingRefused => ({ _tag: 'BackingRefused', name, rule, reason })

/** Renders any qcow or block error as one readable sentence. */
export const describeError = (e: QcowError): string => {
  switch (e._tag) {
    case 'InvalidImage':
      return `Invalid qcow2 image: ${e.reason}.`
    case 'Corrupt':
      return `The qcow2 image is corrupt: ${e.reason}.`
    case 'UnsupportedFeature':
      return `Unsupported qcow2 feature '${e.feature}'${e.reason === undefined ? '' : `: ${e.reason}`}.`
    case 'NoSpace':
      return `No space left for the image: ${e.reason}.`
    case 'BackingRefused':
      return `Backing file ${JSON.stringify(e.name)} was not opened: ${e.reason}.`
    default:
      return describeBlockError(e)
  }
}
