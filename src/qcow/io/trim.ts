// Trimming the base device to the image's end once a writable image is flushed for the last time.
import type { Image } from '../image.js'

/**
 * Shrinks the base device to one past the last cluster in use (check's image end offset) when it is
 * longer and can be resized, so the file ends where the image ends, as QEMU's do. Call it after the
 * final flush: the end comes from the in-memory refcounts, which then match the disk and cover every
 * cluster referenced or still being written, and it is skipped while anything is left to write back.
 * A crash before or during the resize leaves a longer, still valid image; a refused resize is ignored.
 */
export const trimBase = async (img: Image): Promise<void> => {
  if (img.readOnly || img.corruptFound || img.io.device.resize === undefined) return
  await img.reads.quiesce()
  await img.allocLock.run(() =>
    img.writebackLock.run(async () => {
      if (img.header.dirty || img.pendingFrees.length > 0 || img.l2Cache.hasDirty() || img.refcounts.cache.hasDirty()) return
      const end = (await img.refcounts.usedEnd()) * img.g.clusterSize
      if (end > 0 && end < img.io.sizeBytes) await img.io.shrinkTo(end)
    }),
  )
}
