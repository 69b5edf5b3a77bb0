// This image's own allocation: per-cluster status from the L1/L2 tables, seeks and merged extents (the chain's are in backing/map.ts).
import type { MapExtent } from '../api.js'
import { COMPRESSED_HI, OFFSET_HI_MASK, OFFSET_LO_MASK, ZERO_LO, entryOffset } from '../format/entries.js'
import type { Image } from '../image.js'
import { l2EntryProblem } from '../map/l2-entry.js'
import { l2ForRead } from '../map/l2-tables.js'

/** Status of one guest cluster; `host` is -1 when there is no meaningful host offset. */
interface ClusterStatus {
  readonly present: boolean
  readonly zero: boolean
  readonly data: boolean
  readonly host: number
}

/** The status of an unallocated cluster: zero unless a lower layer (backing file) shows through. */
const unallocated = (img: Image): ClusterStatus => ({ present: false, zero: img.lower.allZero, data: false, host: -1 })

/** Decodes one L2 entry's status, or says why the entry is invalid. */
const entryStatus = (img: Image, hi: number, lo: number): ClusterStatus | string => {
  if ((hi | lo) === 0) return unallocated(img)
  if ((hi & COMPRESSED_HI) !== 0) return { present: true, zero: false, data: true, host: -1 }
  const problem = l2EntryProblem(img, hi, lo)
  if (problem !== undefined) return problem
  const hasOffset = (hi & OFFSET_HI_MASK) !== 0 || (lo & OFFSET_LO_MASK) !== 0
  const host = hasOffset ? entryOffset(hi, lo) : -1
  if ((lo & ZERO_LO) !== 0) return { present: true, zero: true, data: false, host }
  if (!hasOffset) return unallocated(img)
  return { present: true, zero: false, data: true, host }
}

/**
 * Calls `visit(guestClusterStart, status)` for each cluster from the one holding byte `from` up to
 * `end` (exclusive), skipping L2 tables that are not allocated with one call per table. Stops as
 * soon as `visit` returns true and returns the guest byte where it stopped (or `end`).
 */
const walk = async (img: Image, from: number, end: number, visit: (at: number, length: number, s: ClusterStatus) => boolean): Promise<number> => {
  const { clusterSize, l2Coverage, l2Entries } = img.g
  let at = from - (from % clusterSize)
  while (at < end) {
    const l1Index = Math.floor(at / l2Coverage)
    const tableEnd = Math.min(end, (l1Index + 1) * l2Coverage)
    const table = await l2ForRead(img, l1Index)
    if (table === undefined) {
      if (visit(at, tableEnd - at, unallocated(img))) return at
      at = tableEnd
      continue
    }
    try {
      for (; at < tableEnd; at += clusterSize) {
        const slot = Math.floor(at / clusterSize) % l2Entries
        const status = entryStatus(img, table.view.getUint32(slot * 8), table.view.getUint32(slot * 8 + 4))
        if (typeof status === 'string') return img.corrupt(status)
        if (visit(at, Math.min(clusterSize, tableEnd - at), status)) return at
      }
    } finally {
      img.l2Cache.release(table)
    }
  }
  return end
}

/** The first byte at or after `from` whose cluster is (or, with `mapped` false, is not) allocated in this image; the size when none. */
export const seekAllocation = async (img: Image, from: number, mapped: boolean): Promise<number> => {
  const size = img.header.size
  if (from >= size) return size
  const found = await walk(img, from, size, (_at, _length, s) => s.present === mapped)
  return Math.min(size, Math.max(from, found))
}

const sameFlags = (a: ClusterStatus, b: ClusterStatus): boolean => a.present === b.present && a.zero === b.zero && a.data === b.data

/** This image's own allocation map of guest bytes `[from, from + length)` (all at depth 0), merged like `qemu-img map`. */
export const mapExtents = async (img: Image, from: number, length: number): Promise<MapExtent[]> => {
  const end = from + length
  const out: MapExtent[] = []
  let run: { start: number; end: number; status: ClusterStatus; host: number } | undefined
  const close = (): void => {
    if (run === undefined) return
    const { start, end: stop, status, host } = run
    out.push({ start, length: stop - start, depth: 0, present: status.present, zero: status.zero, data: status.data, ...(host >= 0 ? { offset: host } : {}) })
  }
  await walk(img, from, end, (at, n, status) => {
    const start = Math.max(at, from)
    const stop = Math.min(at + n, end)
    const host = status.host >= 0 ? status.host + (start - at) : -1
    const contiguous = run !== undefined && (host < 0 ? run.host < 0 : run.host >= 0 && run.host + (run.end - run.start) === host)
    if (run !== undefined && run.end === start && sameFlags(run.status, status) && contiguous) run.end = stop
    else {
      close()
      run = { start, end: stop, status, host }
    }
    return false
  })
  close()
  return out
}
