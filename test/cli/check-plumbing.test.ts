// `qcow check` end to end over a stand-in engine whose check and repair are qemu-img's own (until issue 4 lands).
import { copyFile, open } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { describe, expect, it } from 'vitest'
import { checkAndReport } from '../../src/cli/check.js'
import { captureConsole } from '../../src/cli/console.js'
import { makeContext } from '../../src/cli/context.js'
import type { Image } from '../../src/cli/image.js'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'

type Json = Record<string, number | string | undefined>

/** A qcow device whose `check` and `repair` run qemu-img on the file, in the shapes issue 4 documents. */
const qemuBackedImage = (path: string): Image => {
  const check = () =>
    TE.fromTask(async () => {
      const r = await qemuImg(['check', '--output=json', path])
      const j = JSON.parse(r.stdout) as Json
      return {
        corruptions: Number(j.corruptions ?? 0),
        leaks: Number(j.leaks ?? 0),
        allocatedClusters: Number(j['allocated-clusters']),
        totalClusters: Number(j['total-clusters']),
        imageEndOffset: Number(j['image-end-offset']),
        fragmentedClusters: Number(j['fragmented-clusters'] ?? 0),
        compressedClusters: Number(j['compressed-clusters'] ?? 0),
        problems: r.stderr.split('\n').filter((l) => l !== ''),
      }
    })
  const repair = (o: { all?: boolean }) =>
    async () => {
      const r = await qemuImg(['check', '--output=json', '-r', o.all === true ? 'all' : 'leaks', path])
      if (r.code === 1) return E.left({ _tag: 'Corrupt' as const, reason: 'the refcount structures need rebuilding (use -r all)' })
      const j = JSON.parse(r.stdout) as Json
      return E.right({ leaksFixed: Number(j['leaks-fixed'] ?? 0), corruptionsFixed: Number(j['corruptions-fixed'] ?? 0) })
    }
  return { path, format: 'qcow2', qcow: { check, repair }, writable: true } as unknown as Image
}

const poke = async (path: string, offset: number, hex: string): Promise<void> => {
  const h = await open(path, 'r+')
  try {
    await h.write(Buffer.from(hex, 'hex'), 0, hex.length / 2, offset)
  } finally {
    await h.close()
  }
}

describeWithQemu('qcow check over a qemu-backed stand-in engine', () => {
  const tmp = useTempDir('qcow-cli-plumb-')
  const damages = [
    { name: 'clean', hex: '', at: 0 },
    { name: 'leak', hex: '0000000000000000', at: 0x40000 },
    { name: 'refcount too low', hex: '0000', at: 0x20000 + 5 * 2 },
    { name: 'offset past the end', hex: '8000000100050000', at: 0x40000 },
  ]
  const modes = [undefined, 'leaks', 'all'] as const

  describe.each(damages)('$name', ({ name, hex, at }) => {
    it.each(modes.flatMap((repair) => (['json', 'human'] as const).map((output) => ({ repair, output }))))(
      'check --output=$output -r $repair: stdout, problem lines and exit code as qemu-img check',
      async ({ repair, output }) => {
        const ours = tmp.file(`p-${name}-${repair}-${output}-ours.qcow2`)
        const theirs = tmp.file(`p-${name}-${repair}-${output}-qemu.qcow2`)
        await qemuImg(['create', '-q', '-f', 'qcow2', ours, '10M'])
        await qemuIoRaw(['-c', 'write -P 1 0 192k', '-c', 'write -P 2 2M 4k', ours])
        if (hex !== '') await poke(ours, at, hex)
        await copyFile(ours, theirs)
        const q = await qemuImg(['check', `--output=${output}`, ...(repair === undefined ? [] : ['-r', repair]), theirs])
        const console = captureConsole()
        const { context } = makeContext(console)
        const result = await checkAndReport(context, qemuBackedImage(ours), output, repair)()
        if (q.code === 1) {
          expect(E.isLeft(result)).toBe(true)
          return
        }
        expect(result).toEqual(E.right(q.code))
        const stdout = output === 'json' ? JSON.parse(console.stdout()) : console.stdout()
        const expected = output === 'json' ? { ...JSON.parse(q.stdout), filename: ours } : q.stdout
        expect(stdout).toEqual(expected)
        if (repair === undefined) expect(console.stderr()).toBe(q.stderr)
      },
    )
  })
})
