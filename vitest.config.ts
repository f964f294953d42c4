import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Native addons (better-sqlite3, tfjs backends) crash the threads pool.
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    // vitest's default is one worker fewer than the cores: a single worker on a 2-core machine,
    // which leaves a core idle while a test waits on the CLI child processes it spawns.
    maxWorkers: Math.max(2, os.availableParallelism() - 1),
    // Timeouts only stop a hung test. They are generous so that a loaded machine (the suite must
    // pass with a CPU hog running beside it) is slow, not failing. Hooks build or copy fixtures;
    // the tiny zoos come from a cache (test/helpers/tiny-zoos.ts) that a cold run fills first.
    testTimeout: 300_000,
    hookTimeout: 900_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" closing line.
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
