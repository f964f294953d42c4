// The WebAssembly float64 product (src/tensor/wasm/dense-wasm.ts) against dense.ts's JavaScript kernel:
// bit for bit (same summation order per entry), on shapes crossing every edge of its tiling and of
// its blocks, and against a plain float64 triple loop. Also: the committed dense-kernels.wasm is
// what dense-kernels.c builds to (with Debian's clang 14, as for merge-kernels.wasm).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { gramOfRows, mulAB, mulABt } from '../src/tensor/dense.ts';
import { eigenSymmetric } from '../src/tensor/eigen.ts';
import { withKernelBackend } from '../src/tensor/kernel-backend.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { wasmGemmAvailable, withGemmBlockBytes } from '../src/tensor/wasm/dense-wasm.ts';

function uniform(seed: number, n: number): Float64Array {
  const r = seededRandom(seed);
  return new Float64Array(n).map(() => r() - 0.5);
}

function sameBits(x: Float64Array, y: Float64Array): boolean {
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

const shapes: Array<[number, number, number]> = [[16, 1, 9], [17, 300, 23], [64, 513, 97], [5, 1000, 7], [130, 600, 131], [21, 257, 4]];

describe('wasm float64 product', () => {
  it('loads (the wasm backend is the default)', () => {
    expect(wasmGemmAvailable()).toBe(true);
  });

  it.each(shapes)('%i×%i by %i: mulABt, mulAB and gramOfRows give the JavaScript kernel\'s bits, in one block and in many', (m, k, n) => {
    const a = uniform(m + 1, m * k);
    const bt = uniform(n + 2, n * k);
    const b = uniform(n + 3, k * n);
    const run = () => [mulABt(a, bt, m, k, n), mulAB(a, b, m, k, n), gramOfRows(a, m, k)];
    const js = withKernelBackend('js', run);
    const wasm = withKernelBackend('wasm', run);
    // Blocks of 8 rows/columns' worth of bytes: many column blocks and row blocks per product.
    const blocked = withKernelBackend('wasm', () => withGemmBlockBytes(8 * 8 * k, run));
    for (let i = 0; i < 3; i++) {
      expect(sameBits(wasm[i]!, js[i]!)).toBe(true);
      expect(sameBits(blocked[i]!, js[i]!)).toBe(true);
    }
    // And against a plain loop (a different summation order: rounding only, ~k·1e-16 here).
    for (let i = 0; i < m; i += 7) {
      for (let j = 0; j < n; j += 5) {
        let s = 0;
        let t = 0;
        for (let p = 0; p < k; p++) {
          s += a[i * k + p]! * bt[j * k + p]!;
          t += a[i * k + p]! * b[p * n + j]!;
        }
        expect(Math.abs(wasm[0]![i * n + j]! - s)).toBeLessThan(1e-14 * k);
        expect(Math.abs(wasm[1]![i * n + j]! - t)).toBeLessThan(1e-14 * k);
      }
    }
  });
});

describe('eigensolver rotations on wasm', () => {
  it.each([40, 157])('n = %i: eigenvalues and eigenvectors have the JavaScript loop\'s bits, and A·v = λ·v', (n) => {
    const x = uniform(n, n * (n + 3));
    const g = gramOfRows(x, n, n + 3);
    const js = withKernelBackend('js', () => eigenSymmetric(g, n));
    const wasm = withKernelBackend('wasm', () => eigenSymmetric(g, n));
    expect(sameBits(wasm.values, js.values)).toBe(true);
    expect(sameBits(wasm.vectors, js.vectors)).toBe(true);
    // Independent check: every pair satisfies G·v = λ·v to rounding (‖G‖ ~ n²/12 here).
    const norm = Math.max(...wasm.values.map(Math.abs));
    for (let i = 0; i < n; i += 13) {
      const v = wasm.vectors.subarray(i * n, (i + 1) * n);
      for (let r = 0; r < n; r++) {
        let s = 0;
        for (let c = 0; c < n; c++) s += g[r * n + c]! * v[c]!;
        expect(Math.abs(s - wasm.values[i]! * v[r]!)).toBeLessThan(1e-12 * norm);
      }
    }
  });
});

const dir = fileURLToPath(new URL('../src/tensor/wasm/', import.meta.url));
const hasTools = ['clang', 'wasm-ld'].every((t) => spawnSync(t, ['--version'], { stdio: 'ignore' }).status === 0);
const inCi = process.env.CI === 'true';
const CLANG = 'clang version 14.';
const sameClang = hasTools && spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.includes(CLANG);

describe('dense-kernels.wasm', () => {
  it.runIf(sameClang || inCi)('matches a fresh build of dense-kernels.c (npm run build:dense)', () => {
    expect(hasTools, 'CI must have clang and wasm-ld (apt-get install -y clang lld)').toBe(true);
    expect(sameClang, `the committed .wasm was built by Debian's ${CLANG}x; CI must use the same`).toBe(true);
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-gemm-build-'));
    try {
      const out = path.join(tmp, 'dense-kernels.wasm');
      execFileSync('bash', [path.join(dir, 'build-dense.sh'), out], { stdio: 'pipe' });
      expect(fs.readFileSync(out).equals(fs.readFileSync(path.join(dir, 'dense-kernels.wasm'))), 'dense-kernels.wasm is stale: run npm run build:dense and commit it').toBe(true);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
