// Test helpers for the maintenance suites: qemu-made images as RamDisks, saving devices as files, byte patches, map comparison.
import { readFile, writeFile } from 'node:fs/promises'
import { expect } from 'vitest'
import type { MapExtent, QcowDevice } from '../../../src/qcow/index.js'
import type { RamDiskDevice } from '../../../src/ramdisk/index.js'
import { createImage, fileFromDevice, map as qemuMap, qemuIoOk, ramDiskFromFile, type ImageOptions, type QemuMapEntry } from '../../support/qemu.js'
import { Qcow, run } from '../support/harness.js'

/** An image made by qemu-img and filled by qemu-io commands, rewritten densely (no host holes). */
export const qemuImage = async (path: string, options: ImageOptions, commands: ReadonlyArray<string>): Promise<void> => {
  await createImage(path, options)
  if (commands.length > 0) await qemuIoOk(path, commands)
  await densify(path)
}

/**
 * Rewrites a file with every byte present: qemu-img map reports data clusters over host holes as
 * zero when it suspects metadata preallocation, which depends on the host file system.
 */
export const densify = async (path: string): Promise<void> => {
  await writeFile(path, await readFile(path))
}

/** Opens the image file at `path` on a RamDisk. */
export const openFile = async (path: string, readOnly = false): Promise<{ disk: RamDiskDevice; device: QcowDevice }> => {
  const disk = await ramDiskFromFile(path)
  const device = await run(Qcow.connect(disk, { readOnly }))
  return { disk, device }
}

/** Flushes `device` and writes its base disk to `path`. */
export const saveTo = async (device: QcowDevice, disk: RamDiskDevice, path: string): Promise<void> => {
  await run(device.flush())
  await fileFromDevice(disk, path)
}

/** Overwrites bytes of the file at `path`. */
export const patch = async (path: string, offset: number, bytes: ReadonlyArray<number>): Promise<void> => {
  const data = new Uint8Array(await readFile(path))
  data.set(bytes, offset)
  await writeFile(path, data)
}

/** The big-endian bytes of a 64-bit value given as a number below 2^53. */
export const u64 = (value: number): number[] => {
  const hi = Math.floor(value / 2 ** 32)
  const lo = value >>> 0
  return [hi >>> 24, (hi >>> 16) & 255, (hi >>> 8) & 255, hi & 255, lo >>> 24, (lo >>> 16) & 255, (lo >>> 8) & 255, lo & 255]
}

/** Reads a big-endian 64-bit value (below 2^53) from the file at `path`. */
export const readU64 = async (path: string, offset: number): Promise<number> => {
  const data = new Uint8Array(await readFile(path))
  const view = new DataView(data.buffer)
  return view.getUint32(offset) * 2 ** 32 + view.getUint32(offset + 4)
}

/** qemu-img map entries in our extent shape. */
const normalize = (entries: ReadonlyArray<QemuMapEntry>): MapExtent[] =>
  entries.map((e) => ({ start: e.start, length: e.length, depth: e.depth, present: e.present ?? false, zero: e.zero, data: e.data, ...(e.offset === undefined ? {} : { offset: e.offset }) }))

/** Asserts that our `map()` of the image at `path` equals `qemu-img map --output=json`. */
export const expectMapLikeQemu = async (path: string): Promise<ReadonlyArray<MapExtent>> => {
  const { device } = await openFile(path, true)
  const ours = await run(device.map())
  expect(ours).toEqual(normalize(await qemuMap(path)))
  return ours
}
