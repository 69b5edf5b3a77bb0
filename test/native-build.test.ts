// The install step that builds native/: a failing build (no working compiler) leaves the install successful, without the addon, and says why.
import { execFile } from 'node:child_process'
import { cp, mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'
import { useTempDir } from './support/qemu.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))

/** Runs a script with `env`; resolves with its output and exit code. */
const run = (script: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string; code: number }> =>
  new Promise((done) => {
    execFile(process.execPath, [script], { encoding: 'utf8', env }, (error, stdout, stderr) =>
      done({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1 }),
    )
  })

const dir = useTempDir('qcow-ts-native-')

it('a build without a working C compiler exits 0 with a warning and leaves no addon', async () => {
  await mkdir(join(dir.path(), 'scripts'))
  await cp(join(ROOT, 'scripts', 'build-native.mjs'), join(dir.path(), 'scripts', 'build-native.mjs'))
  await mkdir(join(dir.path(), 'native'))
  await cp(join(ROOT, 'native', 'binding.gyp'), join(dir.path(), 'native', 'binding.gyp'))
  await cp(join(ROOT, 'native', 'seek.c'), join(dir.path(), 'native', 'seek.c'))
  const r = await run(join(dir.path(), 'scripts', 'build-native.mjs'), { ...process.env, CC: '/bin/false', CXX: '/bin/false' })
  expect(r.code, r.stdout + r.stderr).toBe(0)
  expect(r.stderr).toContain('hole detection for raw files is unavailable')
  expect(existsSync(join(dir.path(), 'native', 'build', 'Release', 'qcow_seek.node'))).toBe(false)
})
