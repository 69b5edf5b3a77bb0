// check and map output formatting, fed with qemu-img's own numbers: our text must equal qemu-img's.
import { copyFile, open } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import { describe, expect, it } from 'vitest'
import { checkExitCode, checkJson, renderCheckHuman, renderRepairHuman } from '../../src/cli/check.js'
import type { Extent } from '../../src/cli/extents.js'
import type { CheckReport } from '../../src/index.js'
import { renderMapHuman, renderMapJson } from '../../src/cli/map.js'
import { describeWithQemu, qemuImg, qemuIoRaw, useTempDir } from '../support/qemu.js'

type Json = Record<string, number | string | undefined>

/** The report our engine would give for the counts in qemu-img's JSON. */
const reportOf = (j: Json): CheckReport => ({
  corruptions: Number(j.corruptions ?? 0),
  leaks: Number(j.leaks ?? 0),
  allocatedClusters: Number(j['allocated-clusters']),
  totalClusters: Number(j['total-clusters']),
  imageEndOffset: Number(j['image-end-offset']),
  fragmentedClusters: Number(j['fragmented-clusters'] ?? 0),
  compressedClusters: Number(j['compressed-clusters'] ?? 0),
  checkErrors: Number(j['check-errors']),
  problems: [],
})

const poke = async (path: string, offset: number, hex: string): Promise<void> => {
  const h = await open(path, 'r+')
  try {
    await h.write(Buffer.from(hex, 'hex'), 0, hex.length / 2, offset)
  } finally {
    await h.close()
  }
}

describeWithQemu('check and map rendering, against qemu-img', () => {
  const tmp = useTempDir('qcow-cli-render-')

  /** A 10 MiB image with three data clusters, a zero cluster and a 4k write (fresh-image layout). */
  const image = async (name: string): Promise<string> => {
    const f = tmp.file(`${name}.qcow2`)
    await qemuImg(['create', '-q', '-f', 'qcow2', f, '10M'])
    await qemuIoRaw(['-c', 'write -P 1 0 192k', '-c', 'write -z 1M 64k', '-c', 'write -P 2 2M 4k', f])
    return f
  }

  const damages = [
    { name: 'clean', hex: '', at: 0 },
    { name: 'leak', hex: '0000000000000000', at: 0x40000 },
    { name: 'refcount too low', hex: '0000', at: 0x20000 + 5 * 2 },
    { name: 'COPIED cleared', hex: '00', at: 0x40000 },
    { name: 'offset past the end', hex: '8000000100050000', at: 0x40000 },
  ]

  describe.each(damages)('check ($name)', ({ name, hex, at }) => {
    it('human text, JSON and exit code from the same counts equal qemu-img check', async () => {
      const f = await image(`chk-${name}`)
      if (hex !== '') await poke(f, at, hex)
      const json = await qemuImg(['check', '--output=json', f])
      const human = await qemuImg(['check', f])
      const j = JSON.parse(json.stdout) as Json
      const report = reportOf(j)
      expect(checkJson({ path: f, format: 'qcow2' }, report, { leaks: 0, corruptions: 0 })).toEqual(j)
      expect(renderCheckHuman(report)).toBe(human.stdout)
      expect(checkExitCode(report)).toBe(json.code)
    })

    it.each(['leaks', 'all'])('-r %s: JSON and human text equal qemu-img check -r where it repairs', async (mode) => {
      const f = await image(`rep-${name}-${mode}`)
      if (hex !== '') await poke(f, at, hex)
      const g = tmp.file(`rep-${name}-${mode}-human.qcow2`)
      await copyFile(f, g)
      const json = await qemuImg(['check', '-r', mode, '--output=json', f])
      const human = await qemuImg(['check', '-r', mode, g])
      if (json.code === 1) {
        expect(human.code).toBe(1)
        return
      }
      const j = JSON.parse(json.stdout) as Json
      const fixed = { leaks: Number(j['leaks-fixed'] ?? 0), corruptions: Number(j['corruptions-fixed'] ?? 0) }
      const after = reportOf(j)
      expect(checkJson({ path: f, format: 'qcow2' }, after, fixed)).toEqual(j)
      expect(renderRepairHuman(fixed) + renderCheckHuman(after)).toBe(human.stdout)
      expect(checkExitCode(after)).toBe(json.code)
    })
  })

  it.each([
    { name: 'data, zero and discarded clusters', size: '10M', io: ['write -P 1 0 192k', 'write -z 1M 64k', 'write -P 2 2M 4k', 'discard 64k 64k'] },
    { name: 'compressed cluster', size: '10M', io: ['write -c -P 3 0 64k', 'write -P 4 64k 64k'] },
    { name: 'empty 1 TiB', size: '1T', io: [] },
    { name: 'scattered writes', size: '100M', io: ['write -P 1 5M 4k', 'write -P 1 50M 1M', 'write -P 1 99M 64k', 'write -z 20M 3M'] },
  ])('map ($name): JSON and human text from the same extents equal qemu-img map', async ({ name, size, io }) => {
    const f = tmp.file(`map-${name}.qcow2`)
    await qemuImg(['create', '-q', '-f', 'qcow2', f, size])
    if (io.length > 0) await qemuIoRaw([...io.flatMap((c) => ['-c', c]), f])
    const json = await qemuImg(['map', '--output=json', f])
    const human = await qemuImg(['map', f])
    const extents = (JSON.parse(json.stdout) as Array<Omit<Extent, 'file'>>).map((e) => ({ ...e, file: f }))
    expect(renderMapJson(extents)).toBe(json.stdout)
    const rendered = renderMapHuman({ path: f }, extents)
    if (human.code === 0) expect(rendered).toEqual(E.right(human.stdout))
    else expect(E.isLeft(rendered)).toBe(true)
  })
})
