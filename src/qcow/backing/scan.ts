// What this image itself holds for each guest range: runs of unallocated, zero and data clusters (for chain operations).
import { l2Kind } from '../format/entries.js'
import type { Image } from '../image.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForRead } from '../map/l2-tables.js'

/** How this image (not its backing) serves a guest range. */
export type RunState = 'unallocated' | 'zero' | 'data'

/** A guest byte range served one way, clipped to the virtual size. */
export interface Run {
  readonly start: number
  readonly length: number
  readonly state: RunState
}

const stateOf = (hi: number, lo: number): RunState => {
  const kind = l2Kind(hi, lo)
  return kind === 'unallocated' ? 'unallocated' : kind === 'zero' || kind === 'zeroAllocated' ? 'zero' : 'data'
}

/** The image's guest range `[0, size)` as merged runs of equal state, in order. */
export const scanRuns = async (img: Image): Promise<Run[]> => {
  const { clusterSize, l2Coverage, l2Entries } = img.g
  const size = img.header.size
  const runs: Run[] = []
  const push = (start: number, end: number, state: RunState): void => {
    const stop = Math.min(end, size)
    if (stop <= start) return
    const last = runs[runs.length - 1]
    if (last !== undefined && last.state === state && last.start + last.length === start) runs[runs.length - 1] = { ...last, length: stop - last.start }
    else runs.push({ start, length: stop - start, state })
  }
  for (let index = 0; index * l2Coverage < size; index++) {
    const table = await l2ForRead(img, index)
    if (table === undefined) {
      push(index * l2Coverage, (index + 1) * l2Coverage, 'unallocated')
      continue
    }
    try {
      for (let slot = 0; slot < l2Entries && index * l2Coverage + slot * clusterSize < size; slot++) {
        const hi = table.view.getUint32(slot * 8)
        const lo = table.view.getUint32(slot * 8 + 4)
        const problem = (hi | lo) === 0 ? undefined : l2EntryProblem(img, hi, lo)
        if (problem !== undefined) return img.corrupt(problem)
        const start = index * l2Coverage + slot * clusterSize
        push(start, start + clusterSize, stateOf(hi, lo))
      }
    } finally {
      img.l2Cache.release(table)
    }
  }
  return runs
}
