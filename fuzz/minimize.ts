// Shrinks a failing mutant to a minimal set of edited bytes that still fails the same way (ddmin).
import type { Edit } from './mutate.js'

/** The class of a failure message: the words before its first colon ("timeout", "read threw or rejected"). */
export const failureClass = (failure: string): string => failure.split(':')[0]

/**
 * Smallest subset of `edits` for which `fails` still holds, found by removing chunks then single edits;
 * at most `budget` calls of `fails`.
 */
export const minimize = async (edits: ReadonlyArray<Edit>, fails: (edits: ReadonlyArray<Edit>) => Promise<boolean>, budget = 150): Promise<Edit[]> => {
  let current = [...edits]
  let runs = 0
  let chunks = 2
  while (current.length >= 2 && runs < budget) {
    const size = Math.ceil(current.length / chunks)
    let reduced = false
    for (let start = 0; start < current.length && runs < budget; start += size) {
      const complement = [...current.slice(0, start), ...current.slice(start + size)]
      runs++
      if (complement.length > 0 && (await fails(complement))) {
        current = complement
        chunks = Math.max(chunks - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (chunks >= current.length) break
      chunks = Math.min(current.length, chunks * 2)
    }
  }
  return current
}
