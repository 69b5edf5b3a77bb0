// npm run soak [-- --workloads N]: the crash and fault suites with N workloads per configuration (default 20).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'

const args = process.argv.slice(2)
const at = args.indexOf('--workloads')
const workloads = at >= 0 ? Number(args[at + 1]) : Number(process.env.QCOW_SOAK ?? 20)
if (!Number.isSafeInteger(workloads) || workloads < 1) {
  console.error(`soak: --workloads must be a positive integer, got ${args[at + 1] ?? process.env.QCOW_SOAK}`)
  process.exit(2)
}
const suites = ['test/qcow/crash.test.ts', 'test/qcow/faults.test.ts'].filter((f) => existsSync(f))
const vitest = createRequire(import.meta.url).resolve('vitest/vitest.mjs')
console.log(`soak: ${workloads} workloads per configuration over ${suites.join(', ')}`)
const child = spawn(process.execPath, [vitest, 'run', ...suites], {
  stdio: 'inherit',
  env: { ...process.env, QCOW_SOAK: String(workloads) },
})
child.on('exit', (code) => process.exit(code ?? 1))
