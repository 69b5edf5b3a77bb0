// The built `bin/qcow.js` run as a real process: its bundle and code cache, version, help, exit codes, error lines, a convert.
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTempDir } from '../support/qemu.js'
import { buildPrivateBin, qcowProcess, removePrivateBin } from './harness.js'

describe('bin/qcow.js as a process', () => {
  const tmp = useTempDir('qcow-cli-proc-')
  let bin = ''
  beforeAll(async () => {
    bin = await buildPrivateBin()
  })
  afterAll(async () => {
    await removePrivateBin()
  })

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    const r = await qcowProcess(bin, ['--version'])
    expect(r).toEqual({ stdout: `${version}\n`, stderr: '', code: 0 })
  })

  it('runs the one-file bundle with a code cache that V8 accepts', async () => {
    const launch = pathToFileURL(join(dirname(bin), '..', 'dist', 'cli', 'launch.js')).href
    const probe = `const l = await import(${JSON.stringify(launch)}); const { readFileSync } = await import('node:fs'); ` +
      `console.log(l.loadBundle(l.BUNDLE, readFileSync(l.BUNDLE_CACHE)).cacheRejected)`
    const r = await new Promise<string>((resolve) => {
      execFile(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8' }, (error, stdout, stderr) => resolve(error === null ? stdout : `${stdout}${stderr}`))
    })
    expect(r).toBe('false\n')
  })

  it('--help lists every subcommand, and SUB --help shows its options', async () => {
    const r = await qcowProcess(bin, ['--help'])
    expect(r.code).toBe(0)
    for (const sub of ['info', 'create', 'check', 'map', 'convert', 'compare', 'resize', 'io']) expect(r.stdout).toMatch(new RegExp(`^  ${sub} `, 'm'))
    const sub = await qcowProcess(bin, ['convert', '--help'])
    expect(sub.code).toBe(0)
    expect(sub.stdout).toMatch(/-O, --output-format <fmt>/)
    expect(sub.stdout).toMatch(/-p, --progress/)
  })

  it('a failure is one "qcow: <file>: <sentence>" line on stderr, no stack trace, exit 1', async () => {
    const missing = tmp.file('nope.qcow2')
    const r = await qcowProcess(bin, ['info', missing])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(new RegExp(`^qcow: ${missing}: [^\\n]+\\n$`))
    const usage = await qcowProcess(bin, ['frobnicate'])
    expect(usage.code).toBe(1)
    expect(usage.stderr).toBe("qcow: unknown command 'frobnicate'\n")
  })

  it('create, io and convert run end to end; the raw output is sparse', async () => {
    const img = tmp.file('p.raw')
    expect((await qcowProcess(bin, ['create', '-q', '-f', 'raw', img, '64M'])).code).toBe(0)
    expect((await qcowProcess(bin, ['io', '-c', 'write -P 0x42 40M 64k', img])).code).toBe(0)
    const out = tmp.file('p-out.raw')
    const r = await qcowProcess(bin, ['convert', '-p', '-O', 'raw', img, out])
    expect(r).toEqual({ stdout: '', stderr: '', code: 0 })
    const st = await stat(out)
    expect(st.size).toBe(64 * 2 ** 20)
    expect(st.blocks * 512).toBeLessThanOrEqual(128 * 1024)
    const cmp = await qcowProcess(bin, ['compare', img, out])
    expect(cmp).toEqual({ stdout: 'Images are identical.\n', stderr: '', code: 0 })
  })
})
