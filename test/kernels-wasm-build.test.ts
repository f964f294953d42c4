// The committed merge-kernels.wasm and forward-kernels.wasm are what their C sources build to: rebuilt here with clang + lld
// and compared byte for byte. Skipped where no clang is installed, except under CI=true, where
// .ci/run installs clang and lld first and a missing compiler is a failure, not a skip. The
// committed binary comes from Debian 12's clang 14; another clang version emits different (equally
// valid) bytes, so outside CI the comparison runs only with that version.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../src/tensor/wasm/', import.meta.url));
const hasTools = ['clang', 'wasm-ld'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);
const inCi = process.env.CI === 'true';
const CLANG = 'clang version 14.';
const sameClang = hasTools && spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.includes(CLANG);

describe('the committed kernels (merge-kernels.wasm, forward-kernels.wasm)', () => {
  it.runIf(sameClang || inCi)('match a fresh build of their C sources (npm run build:kernels)', () => {
    expect(hasTools, 'CI must have clang and wasm-ld (apt-get install -y clang lld)').toBe(true);
    expect(sameClang, `the committed .wasm was built by Debian's ${CLANG}x; CI must use the same`).toBe(true);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-wasm-build-'));
    try {
      execFileSync('bash', [path.join(dir, 'build-kernels.sh'), tmp], { stdio: 'pipe' });
      for (const name of ['merge-kernels.wasm', 'forward-kernels.wasm']) {
        const fresh = fs.readFileSync(path.join(tmp, name));
        const committed = fs.readFileSync(path.join(dir, name));
        expect(fresh.equals(committed), `${name} is stale: run npm run build:kernels and commit it`).toBe(true);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
