import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native addons (better-sqlite3, tfjs backends) crash the threads pool.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
