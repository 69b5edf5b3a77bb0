// commit: copy what this layer holds into its backing device, make that durable, then empty this layer.
import { readOnlyError, unsupported } from '../../block/errors.js'
import type { Image } from '../image.js'
import { fail, must } from '../io/fault.js'
import { readGuest } from '../io/read.js'
import { flushImage } from '../io/flush.js'
import { clearAllEntries } from './empty.js'
import { BackingLayer, backingOf } from './layer.js'
import { scanRuns } from './scan.js'

/** Bytes copied per request. */
const CHUNK = 1024 * 1024

/** The image's backing layer, reopened writable through its gate when the gate opened it read-only. */
const writableBacking = async (img: Image): Promise<BackingLayer> => {
  const layer = backingOf(img.lower)
  if (layer === undefined) return fail(unsupported('commit', 'the image has no backing device'))
  const { reopenWritable } = layer.backing
  if (reopenWritable === undefined || (await must(layer.backing.device.getInfo())).readWrite) return layer
  const writable = new BackingLayer(await reopenWritable())
  img.lower = writable
  await img.reads.quiesce()
  await layer.close()
  return writable
}

/** Copies every range the image allocates into the backing (grown first when it can be) and flushes the backing. */
const copyDown = async (img: Image, layer: BackingLayer): Promise<void> => {
  const { device, sectorSize } = layer.backing
  const info = await must(device.getInfo())
  const size = img.header.size
  let backingBytes = info.sizeSectors * sectorSize
  const runs = (await scanRuns(img)).filter((r) => r.state !== 'unallocated')
  const needed = runs.reduce((end, r) => Math.max(end, r.start + r.length), 0)
  if (size > backingBytes && device.resize !== undefined) {
    await must(device.resize(Math.ceil(size / sectorSize)))
    backingBytes = (await must(device.getInfo())).sizeSectors * sectorSize
  }
  if (needed > backingBytes) fail(unsupported('commit', `the backing device holds ${backingBytes} bytes and cannot grow to ${needed}`))
  img.lower = new BackingLayer({ ...layer.backing, sizeBytes: backingBytes })
  const buffer = new Uint8Array(CHUNK)
  for (const r of runs) {
    const first = Math.floor(r.start / sectorSize) * sectorSize
    const end = Math.min(size, Math.ceil((r.start + r.length) / sectorSize) * sectorSize)
    for (let pos = first; pos < end; pos += CHUNK) {
      const n = Math.min(CHUNK, end - pos)
      const chunk = buffer.subarray(0, n)
      if (r.state === 'zero' && device.writeZeroes !== undefined && pos % sectorSize === 0 && n % sectorSize === 0 && r.start <= pos && pos + n <= r.start + r.length) {
        await must(device.writeZeroes(pos / sectorSize, n / sectorSize))
        continue
      }
      await img.reads.track(readGuest(img, pos, [chunk], n))
      await must(device.write(pos / sectorSize, [chunk]))
    }
  }
  await must(device.flush())
}

/**
 * Writes every range this image allocates (data and zero clusters) into its backing device at the
 * same offsets, growing the backing to this image's size when it is smaller and can be resized (as
 * QEMU does), flushes the backing, then empties this image so its guest content is served by the
 * backing. The backing must be writable: a device given as `backing` must be opened read-write; one
 * the gate opened is reopened read-write through the gate. Writes arriving meanwhile wait for the end.
 */
export const commitImage = async (img: Image): Promise<void> => {
  if (img.readOnly) fail(readOnlyError('commit'))
  const layer = await writableBacking(img)
  const info = await must(layer.backing.device.getInfo())
  if (!info.readWrite) fail(readOnlyError('commit into the backing device (give it as `backing`, opened writable)'))
  const release = await img.ranges.acquire(0, Math.ceil(img.header.size / img.g.clusterSize))
  try {
    await copyDown(img, layer)
    await clearAllEntries(img)
  } finally {
    release()
  }
  await flushImage(img)
}

