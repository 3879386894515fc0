import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Host tests change kernel tracing state and check it is restored: one file at a time, so
    // that one file's before/after snapshot never sees another's work in flight.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
