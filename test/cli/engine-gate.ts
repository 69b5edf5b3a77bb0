// Whether this build can create qcow2 images yet (the engine lands separately); qcow2 suites skip until then.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { qcow } from './harness.js'

/** True when `qcow create -f qcow2` works in this build. */
export const qcow2EngineBuilt = async (): Promise<boolean> => {
  const dir = await mkdtemp(join(tmpdir(), 'qcow-cli-gate-'))
  try {
    return (await qcow(['create', '-q', '-f', 'qcow2', join(dir, 'gate.qcow2'), '1M'])).code === 0
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
