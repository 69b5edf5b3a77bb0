// Repair like `qemu-img check -r leaks|all`: refcount fixes (or a rebuild), then COPIED flags, then a fresh check.
import type { CheckReport, RepairReport } from '../api.js'
import { corrupt } from '../errors.js'
import { INCOMPAT_CORRUPT } from '../format/constants.js'
import { COPIED_HI } from '../format/entries.js'
import { withIncompatibleBit } from '../format/header.js'
import type { Image } from '../image.js'
import { fail } from '../io/fault.js'
import { flushImage } from '../io/flush.js'
import { analyze, reportOf, type Analysis, type Mismatch } from './check.js'
import { checkCopied } from './copied.js'
import { StoredRefcounts } from './stored-refcounts.js'
import { readReftable } from './references.js'
import { writeRefcountStructure } from './rebuild.js'

/** Writes dirty refcount blocks and flushes. */
const writeRefcounts = async (img: Image): Promise<void> => {
  await img.writebackLock.run(async () => {
    await img.refcounts.writeDirtyBlocks()
    await img.io.flush()
  })
}

/** Sets the stored refcount of each mismatched cluster to its reference count. */
const applyMismatches = async (img: Image, mismatches: ReadonlyArray<Mismatch>): Promise<void> => {
  if (mismatches.length === 0) return
  await img.withRefcounts(async () => {
    for (const m of mismatches) await img.refcounts.update(m.cluster, 1, m.reference - m.refcount)
  })
  await writeRefcounts(img)
}

const countsOf = (a: Analysis): { corruptions: number; leaks: number } => {
  let corruptions = a.counted.corruptions
  let leaks = 0
  for (const m of a.comparison.mismatches) {
    if (m.refcount < m.reference) corruptions++
    else leaks++
  }
  return { corruptions, leaks }
}

/**
 * Rebuilds the refcount structure from a check's counted references, then reclaims the old
 * structure's clusters (leaks the rebuild itself creates, not reported as fixed).
 */
export const rebuildFrom = async (img: Image, a: Analysis): Promise<Analysis> => {
  await img.allocLock.run(() => writeRefcountStructure(img, a.counted.refs))
  const after = await analyze(img)
  await applyMismatches(img, after.comparison.mismatches.filter((m) => m.refcount > m.reference))
  return analyze(img)
}

/** Sets or clears COPIED flags to match the stored refcounts; returns how many entries changed. */
const fixCopied = async (img: Image): Promise<number> => {
  const stored = new StoredRefcounts(img, await readReftable(img))
  const problems = await checkCopied(img, stored, [], 'Repairing')
  for (const p of problems) {
    const set = p.refcount === 1
    if (p.table === 'l1') {
      const hi = img.l1.hi(p.index)
      img.l1.view.setUint32(p.index * 8, (set ? hi | COPIED_HI : hi & ~COPIED_HI) >>> 0)
      await img.l1.writeEntry(img.io, p.index)
      continue
    }
    const table = await img.l2Cache.acquire(p.l2Offset)
    try {
      const hi = table.view.getUint32(p.index * 8)
      table.view.setUint32(p.index * 8, (set ? hi | COPIED_HI : hi & ~COPIED_HI) >>> 0)
      img.l2Cache.markDirty(table)
    } finally {
      img.l2Cache.release(table)
    }
  }
  if (problems.length > 0) await flushImage(img)
  return problems.length
}

/** Repairs the image (the caller holds off writes and has flushed). */
export const repairImage = async (img: Image, leaks: boolean, all: boolean): Promise<RepairReport> => {
  let a = await analyze(img)
  let leaksFixed = 0
  let corruptionsFixed = 0
  let remaining = countsOf(a)
  let checkErrors = a.counted.checkErrors + a.comparison.checkErrors
  if (a.counted.rebuild || a.comparison.rebuild) {
    if (!all) return fail(corrupt('the refcount structure must be rebuilt; repair with all'))
    const before = remaining
    a = await rebuildFrom(img, a)
    remaining = countsOf(a)
    checkErrors = a.counted.checkErrors + a.comparison.checkErrors
    corruptionsFixed += Math.max(0, before.corruptions - remaining.corruptions)
    leaksFixed += Math.max(0, before.leaks - remaining.leaks)
  } else {
    const fixable = a.comparison.mismatches.filter((m) => (m.refcount > m.reference ? leaks || all : all))
    await applyMismatches(img, fixable)
    for (const m of fixable) {
      if (m.refcount > m.reference) {
        leaksFixed++
        remaining.leaks--
      } else {
        corruptionsFixed++
        remaining.corruptions--
      }
    }
  }
  if (all || (remaining.corruptions === 0 && remaining.leaks === 0 && checkErrors === 0)) corruptionsFixed += await fixCopied(img)
  const final: CheckReport = reportOf(img, await analyze(img))
  if (final.corruptions === 0 && final.checkErrors === 0) {
    if (img.header.corrupt) await img.updateHeader(withIncompatibleBit(img.header, INCOMPAT_CORRUPT, false))
    img.corruptFound = false
  }
  return { ...final, leaksFixed, corruptionsFixed }
}
