// extentsOf on a model engine whose map leaves out `present`: presence comes from seekMapped/seekUnmapped.
import { fc, test } from '@fast-check/vitest'
import * as E from 'fp-ts/lib/Either.js'
import * as TE from 'fp-ts/lib/TaskEither.js'
import { expect } from 'vitest'
import { extentsOf, type Extent } from '../../src/cli/extents.js'
import type { Image } from '../../src/cli/image.js'

type State = 'unallocated' | 'zero' | 'data'
const CLUSTER = 65536
const FIRST_HOST = 0x50000

/** Host offset of each data cluster: data clusters are laid out in order. */
const hostOffsets = (states: ReadonlyArray<State>): number[] => {
  let next = FIRST_HOST
  return states.map((s) => (s === 'data' ? (next += CLUSTER) - CLUSTER : -1))
}

/** qemu-img map's answer for the model, cluster by cluster, merged. */
const expected = (states: ReadonlyArray<State>): Extent[] => {
  const hosts = hostOffsets(states)
  const out: Extent[] = []
  states.forEach((s, i) => {
    const e: Extent = { start: i * CLUSTER, length: CLUSTER, present: s !== 'unallocated', zero: s !== 'data', data: s === 'data', ...(s === 'data' ? { offset: hosts[i] } : {}) }
    const last = out[out.length - 1]
    if (last !== undefined && last.present === e.present && last.zero === e.zero && last.data === e.data && (last.offset === undefined ? e.offset === undefined : e.offset === last.offset + last.length)) {
      out[out.length - 1] = { ...last, length: last.length + CLUSTER }
    } else out.push(e)
  })
  return out
}

/** A fake qcow device: `map` without `present` (zero and unallocated clusters look alike), and the seeks. */
const fakeImage = (states: ReadonlyArray<State>): Image => {
  const hosts = hostOffsets(states)
  const sectorsPerCluster = CLUSTER / 512
  const end = states.length * sectorsPerCluster
  const mapExtents = states.map((s, i) => ({ start: i * CLUSTER, length: CLUSTER, data: s === 'data', zero: s !== 'data', ...(s === 'data' ? { offset: hosts[i] } : {}) }))
  const seek = (wanted: (s: State) => boolean) => (from: number) => {
    for (let sector = from; sector < end; sector = (Math.floor(sector / sectorsPerCluster) + 1) * sectorsPerCluster) {
      if (wanted(states[Math.floor(sector / sectorsPerCluster)])) return TE.right(sector)
    }
    return TE.right(end)
  }
  const qcow = { map: () => TE.right(mapExtents), seekMapped: seek((s) => s !== 'unallocated'), seekUnmapped: seek((s) => s === 'unallocated') }
  return { path: 'model.qcow2', format: 'qcow2', qcow, sizeBytes: states.length * CLUSTER, writable: false } as unknown as Image
}

test.prop([fc.array(fc.constantFrom<State>('unallocated', 'zero', 'data'), { minLength: 1, maxLength: 40 })])(
  'extents equal qemu-img map semantics: zero clusters present, unallocated ones not, merged',
  async (states) => {
    const got = await extentsOf(fakeImage(states))()
    expect(got).toEqual(E.right(expected(states)))
  },
)
