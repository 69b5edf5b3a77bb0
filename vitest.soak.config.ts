import { defineConfig } from 'vitest/config'

// `npm run soak`: the crash and fault suites only, with QCOW_SOAK workloads per configuration.
export default defineConfig({
  test: {
    include: ['test/qcow/crash-all-cuts.test.ts', 'test/qcow/faults.test.ts'],
    testTimeout: 3_600_000,
  },
})
