// The `npm start` demonstration: what a RamDisk, a FileBlock and a qcow2 image over them do, printed step by step.
import * as E from 'fp-ts/lib/Either.js'
import type { TaskEither } from 'fp-ts/lib/TaskEither.js'
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readOnly, slice } from './block/index.js'
import { FileBlock } from './file/index.js'
import { describeError, makeQcow, type QcowError } from './qcow/index.js'
import { RamDisk } from './ramdisk/index.js'

/** Runs a task and returns its value, or prints the error and stops the demo. */
const step = async <A>(what: string, task: TaskEither<QcowError, A>): Promise<A> => {
  const result = await task()
  if (E.isLeft(result)) throw new Error(`${what}: ${describeError(result.left)}`)
  console.log(`  ok  ${what}`)
  return result.right
}

/** Runs a task that should fail and prints the error it returned as a value. */
const refused = async (what: string, task: TaskEither<QcowError, unknown>): Promise<void> => {
  const result = await task()
  console.log(E.isLeft(result) ? `  no  ${what}: ${describeError(result.left)}` : `  ??  ${what} unexpectedly succeeded`)
}

const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes).replace(/\0+$/, '')
const sector = (message: string): Uint8Array => {
  const bytes = new Uint8Array(512)
  bytes.set(new TextEncoder().encode(message))
  return bytes
}

const ramDiskDemo = async (): Promise<void> => {
  console.log('RamDisk: a sparse in-memory device')
  const disk = await step('connect a 1 TiB RamDisk', RamDisk.connect({ size: 2 ** 40 }))
  console.log(`      memory held: ${disk.allocatedBytes()} bytes`)
  await step('write "hello, block world" at sector 1,000,000', disk.write(1_000_000, [sector('hello, block world')]))
  console.log(`      memory held: ${disk.allocatedBytes()} bytes`)
  const back = new Uint8Array(512)
  await step('read it back', disk.read(1_000_000, [back]))
  console.log(`      read: "${text(back)}"`)
  await refused('read past the end', disk.read(2 ** 31, [back]))
  await refused('write a 100-byte buffer', disk.write(0, [new Uint8Array(100)]))
  const window = await step('open a 16-sector slice starting at sector 999,999', slice(disk, 999_999, 16))
  await step('read sector 1 of the slice', window.read(1, [back]))
  console.log(`      read: "${text(back)}"`)
  await refused('write through a read-only view', readOnly(disk).write(0, [back]))
  await step('disconnect', disk.disconnect())
  await refused('read after disconnect', disk.read(0, [back]))
}

const fileBlockDemo = async (): Promise<void> => {
  console.log('FileBlock: a regular file as a device')
  const dir = await mkdtemp(join(tmpdir(), 'qcow-ts-demo-'))
  try {
    const path = join(dir, 'disk.img')
    const file = await step(`create ${path}`, FileBlock.connect({ path, create: true }))
    await step('resize it to 1 MiB', file.resize(2048))
    await step('write two sectors at sector 10 from two buffers', file.write(10, [sector('first'), sector('second')]))
    await step('flush (fsync)', file.flush())
    const [a, b] = [new Uint8Array(512), new Uint8Array(512)]
    await step('read them back into two buffers', file.read(10, [a, b]))
    console.log(`      read: "${text(a)}", "${text(b)}"`)
    await step('disconnect', file.disconnect())
    await refused('open a missing file', FileBlock.connect({ path: join(dir, 'missing.img') }))
    await refused('open a directory', FileBlock.connect({ path: dir }))
    await refused('open with a bad configuration', FileBlock.connect({ path: 42 } as unknown as { path: string }))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const qcowDemo = async (): Promise<void> => {
  console.log('makeQcow: a qcow2 image stored on any device')
  const QcowOnRam = makeQcow(RamDisk)
  const ram = await step('connect an empty RamDisk to hold the image', RamDisk.connect({ size: 0 }))
  const image = await step('create a 1 TiB qcow2 image on it', QcowOnRam.create(ram, { size: 2 ** 40 }))
  await step('write "hello, qcow2" at sector 2,000,000,000', image.write(2_000_000_000, [sector('hello, qcow2')]))
  const back = new Uint8Array(512)
  await step('read it back', image.read(2_000_000_000, [back]))
  console.log(`      read: "${text(back)}"; the RamDisk holds ${ram.allocatedBytes()} bytes`)
  await step('disconnect the image', image.disconnect())
  const dir = await mkdtemp(join(tmpdir(), 'qcow-ts-demo-'))
  try {
    const path = join(dir, 'disk.qcow2')
    const QcowOnFile = makeQcow(FileBlock)
    const file = await step(`create ${path}`, FileBlock.connect({ path, create: true }))
    const disk = await step('format it as a 20 GiB qcow2 image (64 KiB clusters)', QcowOnFile.create(file, { size: 20 * 2 ** 30 }))
    await step('write two sectors at sector 10', disk.write(10, [sector('first'), sector('second')]))
    await step('disconnect (flushes the metadata)', disk.disconnect())
    const info = spawnSync('qemu-img', ['info', '--output=json', path], { encoding: 'utf8' })
    console.log(info.status === 0 ? `      qemu-img info accepts it: ${info.stdout.replace(/\s+/g, ' ').slice(0, 160)}...` : '      (qemu-img not installed: skipping qemu-img info)')
    await step('disconnect the file', file.disconnect())
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const main = async (): Promise<void> => {
  await ramDiskDemo()
  await fileBlockDemo()
  await qcowDemo()
  console.log('Done: every failure above came back as a value, none was thrown.')
}

main().catch((cause: unknown) => {
  console.error(cause instanceof Error ? cause.message : String(cause))
  process.exitCode = 1
})
