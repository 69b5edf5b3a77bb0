import { defineConfig } from 'vitest/config'

// Known-bug reproductions kept out of `npm test`: run with `npm run repro`; each passes once its bug is fixed.
export default defineConfig({
  test: {
    include: ['test/repro/**/*.repro.ts'],
    testTimeout: 60_000,
  },
})
