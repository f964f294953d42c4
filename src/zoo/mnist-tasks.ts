// The eight tasks of mnist8: transformations of the digits that need different features, with
// different amounts of interference between them (geometric ones share strokes; the pixel
// permutation and block shuffle share almost nothing with the plain digits).
import { permutation, PIXELS, seededRandom, SIDE } from './mnist-data.ts';

export const MNIST8_TASKS = ['plain', 'rot90', 'rot180', 'invert', 'mirror', 'permute', 'blocks', 'noise'] as const;
export type Mnist8Task = (typeof MNIST8_TASKS)[number];

/** Fixed parts of the transforms, drawn once from the benchmark seed. */
export interface TaskKeys {
  pixelPermutation: Uint32Array;
  blockPermutation: Uint32Array;
  noiseSeed: number;
}

export function taskKeys(seed: number): TaskKeys {
  return { pixelPermutation: permutation(PIXELS, seed ^ 0x5eed01), blockPermutation: permutation(16, seed ^ 0x5eed02), noiseSeed: (seed ^ 0x5eed03) >>> 0 };
}

const BLOCK = 7; // 4 × 4 blocks of 7 × 7 pixels

/** Transform one image (sample number `index`, for per-sample noise) for `task`. */
export function transformImage(task: Mnist8Task, img: Uint8Array, index: number, keys: TaskKeys): Uint8Array {
  const out = new Uint8Array(PIXELS);
  const at = (r: number, c: number) => img[r * SIDE + c]!;
  switch (task) {
    case 'plain':
      out.set(img);
      break;
    case 'rot90': // clockwise
      for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) out[r * SIDE + c] = at(SIDE - 1 - c, r);
      break;
    case 'rot180':
      for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) out[r * SIDE + c] = at(SIDE - 1 - r, SIDE - 1 - c);
      break;
    case 'invert':
      for (let i = 0; i < PIXELS; i++) out[i] = 255 - img[i]!;
      break;
    case 'mirror':
      for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) out[r * SIDE + c] = at(r, SIDE - 1 - c);
      break;
    case 'permute':
      for (let i = 0; i < PIXELS; i++) out[i] = img[keys.pixelPermutation[i]!]!;
      break;
    case 'blocks':
      for (let b = 0; b < 16; b++) {
        const src = keys.blockPermutation[b]!;
        const [br, bc] = [Math.floor(b / 4) * BLOCK, (b % 4) * BLOCK];
        const [sr, sc] = [Math.floor(src / 4) * BLOCK, (src % 4) * BLOCK];
        for (let r = 0; r < BLOCK; r++) for (let c = 0; c < BLOCK; c++) out[(br + r) * SIDE + bc + c] = at(sr + r, sc + c);
      }
      break;
    case 'noise': {
      // Uniform noise of ±96 grey levels, fixed per sample.
      const rand = seededRandom((keys.noiseSeed + Math.imul(index + 1, 0x9e3779b1)) >>> 0);
      for (let i = 0; i < PIXELS; i++) out[i] = Math.min(255, Math.max(0, Math.round(img[i]! + (rand() * 2 - 1) * 96)));
      break;
    }
  }
  return out;
}

export function transformAll(task: Mnist8Task, images: Uint8Array, keys: TaskKeys, firstIndex = 0): Uint8Array {
  const n = images.length / PIXELS;
  const out = new Uint8Array(images.length);
  for (let i = 0; i < n; i++) out.set(transformImage(task, images.subarray(i * PIXELS, (i + 1) * PIXELS), firstIndex + i, keys), i * PIXELS);
  return out;
}
