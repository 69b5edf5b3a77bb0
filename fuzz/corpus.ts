// The regression corpus in test/fuzz/corpus: each failing case as a gzipped image plus a JSON note.
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { Edit } from './mutate.js'

/** What the JSON note of a corpus case records. */
export interface CorpusNote {
  readonly seed: string
  readonly failure: string
  readonly edits: ReadonlyArray<Edit>
  readonly found: string
}

/** One corpus case. */
export interface CorpusCase {
  readonly name: string
  readonly image: Uint8Array
  readonly note: CorpusNote
}

/** Saves a case as `<name>.qcow2.gz` and `<name>.json` in `dir` (created when missing). */
export const saveCase = (dir: string, name: string, image: Uint8Array, note: CorpusNote): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.qcow2.gz`), gzipSync(image, { level: 9 }))
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(note, null, 2)}\n`)
}

/** Every case saved in `dir` (none when it does not exist). */
export const loadCorpus = (dir: string): CorpusCase[] => {
  let files: string[]
  try {
    files = readdirSync(dir)
  } catch {
    return []
  }
  return files
    .filter((f) => f.endsWith('.qcow2.gz'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.qcow2.gz'.length)
      const note = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as CorpusNote
      return { name, image: new Uint8Array(gunzipSync(readFileSync(join(dir, f)))), note }
    })
}
