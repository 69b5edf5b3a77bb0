// rebase and flatten: switch the backing device, copying up whatever would change (safe mode) or only rewriting the header (unsafe).
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts/lib/index.js'
import type { BlockDevice } from '../../block/device.js'
import { readOnlyError } from '../../block/errors.js'
import { invalidImage, type QcowError } from '../errors.js'
import type { Image } from '../image.js'
import { fail } from '../io/fault.js'
import { flushImage } from '../io/flush.js'
import type { LowerLayer } from '../io/unallocated.js'
import { writeGuestHeld } from '../io/write.js'
import { describeDecodeError } from '../options.js'
import { withBacking } from './header.js'
import { backingOf, givenLower } from './layer.js'
import { scanRuns } from './scan.js'

const RebaseOptionsCodec = t.partial({ unsafe: t.boolean, backingFile: t.string, backingFormat: t.string })

/** Bytes compared per step. */
const CHUNK = 1024 * 1024
const SECTOR = 512

/** Writes the sectors of `[offset, offset + n)` where `oldBytes` and `newBytes` differ, from `oldBytes`. */
const copyDifferences = async (img: Image, offset: number, oldBytes: Uint8Array, newBytes: Uint8Array): Promise<void> => {
  let runStart = -1
  for (let s = 0; s <= oldBytes.byteLength; s += SECTOR) {
    let differs = false
    if (s < oldBytes.byteLength) {
      for (let i = s; i < s + SECTOR; i++) {
        if (oldBytes[i] !== newBytes[i]) {
          differs = true
          break
        }
      }
    }
    if (differs && runStart < 0) runStart = s
    if (!differs && runStart >= 0) {
      await writeGuestHeld(img, offset + runStart, [oldBytes.subarray(runStart, s)], s - runStart)
      runStart = -1
    }
  }
}

/** Copies into the image every unallocated sector whose content would change from `lower` to `next`. */
const copyUp = async (img: Image, next: LowerLayer): Promise<void> => {
  const oldBytes = new Uint8Array(CHUNK)
  const newBytes = new Uint8Array(CHUNK)
  for (const r of await scanRuns(img)) {
    if (r.state !== 'unallocated') continue
    for (let pos = r.start; pos < r.start + r.length; pos += CHUNK) {
      const n = Math.min(CHUNK, r.start + r.length - pos)
      const o = oldBytes.subarray(0, n)
      const w = newBytes.subarray(0, n)
      await img.lower.read(pos, [o], 0, n)
      await next.read(pos, [w], 0, n)
      await copyDifferences(img, pos, o, w)
    }
  }
}

/**
 * Makes `newBacking` (null: none) the image's backing. Safe mode first copies into the image every
 * unallocated range where the old and new backing differ, so the guest content stays the same; the
 * header is rewritten only after that is durable. The old backing is closed when the image opened it.
 * Writes arriving meanwhile wait until the new backing is in place.
 */
export const rebaseImage = async (img: Image, newBacking: BlockDevice<QcowError> | null, options: unknown): Promise<void> => {
  const decoded = RebaseOptionsCodec.decode(options ?? {})
  if (E.isLeft(decoded)) return fail(invalidImage(`bad rebase options: ${describeDecodeError(decoded.left)}`))
  const o = decoded.right
  if (img.readOnly) fail(readOnlyError('rebase'))
  if (newBacking !== null && o.backingFile === undefined) fail(invalidImage('rebase needs backingFile, the name to record for the new backing'))
  if (newBacking === null && (o.backingFile !== undefined || o.backingFormat !== undefined)) fail(invalidImage('backingFile and backingFormat need a new backing device'))
  const next = await givenLower(newBacking, o.backingFile)
  const format = o.backingFormat ?? backingOf(next)?.backing.format
  const header = withBacking(img.header, o.backingFile === undefined ? undefined : { file: o.backingFile, ...(format === undefined ? {} : { format }) })
  if (E.isLeft(header)) return fail(header.left)
  const old = backingOf(img.lower)
  const release = await img.ranges.acquire(0, Math.ceil(img.header.size / img.g.clusterSize))
  try {
    if (o.unsafe !== true) {
      await copyUp(img, next)
      await flushImage(img)
    }
    await img.updateHeader(header.right)
    img.lower = next
  } finally {
    release()
  }
  await img.reads.quiesce()
  await old?.close()
}

/** Copies every backing byte the image shows into the image and drops the backing (a safe rebase onto nothing). */
export const flattenImage = (img: Image): Promise<void> => rebaseImage(img, null, {})
