// npm run soak [-- --workloads N]: the crash and fault suites with N workloads per configuration (default 20).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const args = process.argv.slice(2)
const at = args.indexOf('--workloads')
const workloads = at >= 0 ? Number(args[at + 1]) : Number(process.env.QCOW_SOAK ?? 20)
if (!Number.isSafeInteger(workloads) || workloads < 1) {
  console.error(`soak: --workloads must be a positive integer, got ${args[at + 1] ?? process.env.QCOW_SOAK}`)
  process.exit(2)
}
const manifest = createRequire(import.meta.url).resolve('vitest/package.json')
const vitest = join(dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.vitest)
console.log(`soak: ${workloads} workloads per configuration`)
const child = spawn(process.execPath, [vitest, 'run', '-c', 'vitest.soak.config.ts'], {
  stdio: 'inherit',
  env: { ...process.env, QCOW_SOAK: String(workloads) },
})
child.on('exit', (code) => process.exit(code ?? 1))
