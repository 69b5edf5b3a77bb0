// Shared pieces of the engine interop suites: unwrapping tasks, whole-device reads, a RamDisk that survives disconnect.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import type { BlockDevice } from '../../src/block/device.js'
import { describeError, type QcowError } from '../../src/qcow/errors.js'
import type { RamDiskDevice } from '../../src/ramdisk/index.js'
import { writeSparseFile } from '../support/qemu.js'

/** Runs a task and returns its right value, failing the test with the described error. */
export const run = async <A>(task: TaskEither<QcowError, A>, what: string): Promise<A> => {
  const result = await task()
  if (E.isLeft(result)) throw new Error(`${what}: ${describeError(result.left)} ${JSON.stringify(result.left)}`)
  return result.right
}

/** Reads `bytes` bytes of `device` from byte 0 in requests of `chunk` bytes (multiples of 512). */
export const readBytes = async (device: BlockDevice<QcowError>, bytes: number, chunk = 1024 * 1024): Promise<Uint8Array> => {
  const out = new Uint8Array(bytes)
  for (let at = 0; at < bytes; at += chunk) {
    await run(device.read(at / 512, [out.subarray(at, Math.min(bytes, at + chunk))]), `read at byte ${at}`)
  }
  return out
}

/**
 * A view of `device` whose `disconnect` only flushes, so the bytes a qcow device left on its base can
 * still be dumped after the qcow device is disconnected (a RamDisk forgets its data on disconnect).
 */
export const retainingDisconnect = (device: RamDiskDevice): RamDiskDevice => ({
  getInfo: () => device.getInfo(),
  read: (sector, buffers) => device.read(sector, buffers),
  write: (sector, buffers) => device.write(sector, buffers),
  flush: () => device.flush(),
  disconnect: () => device.flush(),
  discard: (sector, sectors) => device.discard(sector, sectors),
  writeZeroes: (sector, sectors) => device.writeZeroes(sector, sectors),
  resize: (sectors) => device.resize(sectors),
  seekMapped: (from) => device.seekMapped(from),
  seekUnmapped: (from) => device.seekUnmapped(from),
  allocatedBytes: () => device.allocatedBytes(),
})

/** Splits `buffer` into consecutive views whose sizes are whole sectors chosen by `random`. */
export const scatter = (buffer: Uint8Array, random: () => number): Uint8Array[] => {
  const sectors = buffer.byteLength / 512
  const parts: Uint8Array[] = []
  let at = 0
  while (at < sectors) {
    const n = 1 + Math.floor(random() * Math.min(sectors - at, 1 + Math.floor(random() * 40)))
    parts.push(buffer.subarray(at * 512, (at + n) * 512))
    at += n
  }
  return parts
}

const REGION = 1024 * 1024

/** A sparse byte model of a large disk: 1 MiB regions allocated on first write, zero elsewhere. */
export class SparseModel {
  private readonly regions = new Map<number, Uint8Array>()

  /** Stores `bytes` at byte `offset`. */
  write(offset: number, bytes: Uint8Array): void {
    for (let done = 0; done < bytes.byteLength; ) {
      const at = offset + done
      const index = Math.floor(at / REGION)
      const within = at - index * REGION
      const n = Math.min(REGION - within, bytes.byteLength - done)
      let region = this.regions.get(index)
      if (region === undefined) {
        region = new Uint8Array(REGION)
        this.regions.set(index, region)
      }
      region.set(bytes.subarray(done, done + n), within)
      done += n
    }
  }

  /** The `length` bytes at byte `offset`. */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length)
    for (let done = 0; done < length; ) {
      const at = offset + done
      const index = Math.floor(at / REGION)
      const within = at - index * REGION
      const n = Math.min(REGION - within, length - done)
      const region = this.regions.get(index)
      if (region !== undefined) out.set(region.subarray(within, within + n), done)
      done += n
    }
    return out
  }

  /** The written regions as `[byte offset, bytes]` pairs. */
  entries(): ReadonlyArray<readonly [number, Uint8Array]> {
    return [...this.regions].map(([index, region]) => [index * REGION, region] as const)
  }
}

/** A RamDisk view that remembers which 1 MiB regions were ever written, so huge sparse images dump quickly. */
export interface TrackedRamDisk extends RamDiskDevice {
  /** Byte offsets of the 1 MiB regions written so far. */
  writtenRegions(): ReadonlyArray<number>
}

/** Wraps `device` like `retainingDisconnect`, also recording the regions writes touch. */
export const trackedRamDisk = (device: RamDiskDevice): TrackedRamDisk => {
  const kept = retainingDisconnect(device)
  const written = new Set<number>()
  return {
    ...kept,
    write: (sector, buffers) => {
      const bytes = buffers.reduce((n, b) => n + b.byteLength, 0)
      for (let r = Math.floor((sector * 512) / REGION); r * REGION < sector * 512 + bytes; r++) written.add(r)
      return kept.write(sector, buffers)
    },
    writtenRegions: () => [...written].sort((a, b) => a - b).map((r) => r * REGION),
  }
}

/** Writes the regions of `device` that were ever written to a sparse file of the device's size. */
export const dumpSparse = async (device: TrackedRamDisk, path: string): Promise<void> => {
  const geometry = await run(device.getInfo(), 'getInfo')
  const size = geometry.sizeSectors * geometry.sectorSize
  const regions: [number, Uint8Array][] = []
  for (const offset of device.writtenRegions()) {
    if (offset >= size) continue
    const bytes = new Uint8Array(Math.min(REGION, size - offset))
    await run(device.read(offset / 512, [bytes]), `read region at ${offset}`)
    regions.push([offset, bytes])
  }
  await writeSparseFile(path, size, regions)
}
