// npm run build's second step: bundles the built CLI (DIST/cli/main.js) into DIST/cli-bundle/, which bin/qcow.js runs.
// A few bundled files instead of ~190 modules: Node then resolves, reads and compiles a few files at start-up, not hundreds.
import { rm } from 'node:fs/promises'
import { basename, join, resolve } from 'node:path'
import { build } from 'rolldown'

const dist = resolve(process.argv[2] ?? 'dist')
const out = join(dist, 'cli-bundle')
if (basename(out) !== 'cli-bundle') throw new Error(`refusing to replace ${out}`)
await rm(out, { recursive: true, force: true })
await build({
  input: { qcow: join(dist, 'cli', 'main.js') },
  platform: 'node',
  // fp-ts and io-ts ship ES modules beside their CommonJS lib/: the bundle takes those, which it can tree-shake.
  resolve: { alias: { 'fp-ts/lib': 'fp-ts/es6', 'io-ts/lib': 'io-ts/es6' } },
  output: {
    dir: out,
    format: 'esm',
    // Smaller text parses faster; names are kept so that CPU profiles stay readable.
    minify: { compress: true, mangle: false, codegen: { removeWhitespace: true } },
    chunkFileNames: '[name]-[hash].js',
  },
  logLevel: 'warn',
})
