// Per-element kernels over K inputs, generated once per K (and per option set) with the loop over
// models unrolled. One pass over the data with every input in a local variable runs about three
// times faster in V8 than a pass per model, or than an inner loop over an array of arrays.
// These loops are the reference: the wasm kernels (wasm/merge-kernels.c) run instead unless
// MERGESEARCH_KERNELS=js, and give the same bits.
import { wasmSubtract, wasmTaskVectorCombine, wasmWeightedSum } from './wasm/kernel-calls.ts';

/**
 * Keep the entries whose |τ| bit pattern is above `bits`, plus the first `admit − seen` entries
 * equal to it in index order (exact top-k selection applied inside the kernel, without a mask).
 */
export interface KeepAbove {
  bits: number;
  admit: number;
  seen: number;
}

export type Keep = Uint8Array | KeepAbove | null;

type WeightedSumKernel = (out: Float32Array, inputs: Float32Array[], weights: number[]) => void;
type TaskVectorKernel = (
  out: Float32Array,
  base: Float32Array,
  inputs: Float32Array[],
  masks: Keep[],
  eff: number[],
  weights: number[],
  scale: number,
) => void;

const sumCache = new Map<number, WeightedSumKernel>();
const tvCache = new Map<string, TaskVectorKernel>();

function range(k: number): number[] {
  return Array.from({ length: k }, (_, i) => i);
}

/** out[e] = Σᵢ weights[i] · inputs[i][e]. */
export function weightedSum(out: Float32Array, inputs: Float32Array[], weights: number[]): void {
  if (wasmWeightedSum(out, inputs, weights)) return;
  const k = inputs.length;
  let fn = sumCache.get(k);
  if (!fn) {
    const body = [
      ...range(k).map((i) => `const x${i} = inputs[${i}], w${i} = weights[${i}];`),
      'const n = out.length;',
      `for (let e = 0; e < n; e++) out[e] = ${range(k).map((i) => `w${i} * x${i}[e]`).join(' + ') || '0'};`,
    ].join('\n');
    fn = new Function('out', 'inputs', 'weights', body) as WeightedSumKernel;
    sumCache.set(k, fn);
  }
  fn(out, inputs, weights);
}

/**
 * The task-vector family's combination: vᵢ = maskᵢ · effᵢ · τᵢ, where τᵢ is inputs[i] itself
 * when isDelta[i], else inputs[i] − base (computed on the fly, saving a pass and an array); with `consensus`, only the vᵢ whose
 * sign agrees with the sign of Σ vᵢ (zero counting as +) are summed, and the divisor is the sum of
 * their weights (0 → 1); without it, the divisor is Σ weights (|Σ| < 1e-8 → 1). With `normalize`
 * the sum is divided by the divisor. out = base + scale · result.
 */
export function taskVectorCombine(
  out: Float32Array,
  base: Float32Array,
  inputs: Float32Array[],
  isDelta: boolean[],
  masks: Keep[],
  eff: number[],
  weights: number[],
  scale: number,
  consensus: boolean,
  normalize: boolean,
): void {
  const k = inputs.length;
  const kind = masks.map((m) => (m === null ? '-' : m instanceof Uint8Array ? 'm' : 't'));
  kind.forEach((c, i) => {
    if (c === 't' && !isDelta[i]) throw new Error('a threshold keep needs the task vector itself');
  });
  if (wasmCombine(out, base, inputs, isDelta, masks, eff, weights, scale, consensus, normalize)) return;
  const key = `${k}|${kind.join('')}|${isDelta.map((d) => (d ? 'd' : 'x')).join('')}|${consensus}|${normalize}`;
  let fn = tvCache.get(key);
  if (!fn) {
    const lines = [
      ...range(k).map((i) => `const t${i} = inputs[${i}], m${i} = masks[${i}], f${i} = eff[${i}], w${i} = weights[${i}];`),
      'const n = out.length;',
      ...range(k)
        .filter((i) => kind[i] === 't')
        .map((i) => `const u${i} = new Uint32Array(t${i}.buffer, t${i}.byteOffset, n), th${i} = m${i}.bits, ad${i} = m${i}.admit; let eq${i} = m${i}.seen;`),
    ];
    const tau = (i: number) => (isDelta[i] ? `t${i}[e]` : `(t${i}[e] - b)`);
    const v = (i: number) => {
      if (kind[i] === 'm') return `const a${i} = ${tau(i)} * f${i} * m${i}[e];`;
      if (kind[i] === '-') return `const a${i} = ${tau(i)} * f${i};`;
      // Above the threshold: kept (branch-free); equal to it (rare): kept while admissions last.
      return [
        `const x${i} = u${i}[e] & 0x7fffffff; let q${i} = +(x${i} > th${i});`,
        `if (x${i} === th${i}) { q${i} = +(eq${i} < ad${i}); eq${i}++; }`,
        `const a${i} = ${tau(i)} * f${i} * q${i};`,
      ].join(' ');
    };
    if (consensus) {
      lines.push(
        'for (let e = 0; e < n; e++) {',
        '  const b = base[e];',
        ...range(k).map(v),
        // Branch-free: which models agree is data-dependent and mispredicts as branches (2-3x slower).
        `  const sg = 2 * +(${range(k).map((i) => `a${i}`).join(' + ')} >= 0) - 1;`,
        ...range(k).map((i) => `  const k${i} = +(a${i} * sg > 0);`),
        `  const s = ${range(k).map((i) => `k${i} * a${i}`).join(' + ')};`,
        `  const d = ${range(k).map((i) => `k${i} * w${i}`).join(' + ')};`,
        normalize ? '  out[e] = b + (s / (d + +(d === 0))) * scale;' : '  out[e] = b + s * scale;',
        '}',
      );
    } else {
      lines.push(
        `let div = ${range(k).map((i) => `w${i}`).join(' + ')};`,
        normalize ? 'if (Math.abs(div) < 1e-8) div = 1;' : 'div = 1;',
        'const g = scale / div;',
        'for (let e = 0; e < n; e++) {',
        '  const b = base[e];',
        ...range(k).map(v),
        `  out[e] = b + (${range(k).map((i) => `a${i}`).join(' + ')}) * g;`,
        '}',
      );
    }
    fn = new Function('out', 'base', 'inputs', 'masks', 'eff', 'weights', 'scale', lines.join('\n')) as TaskVectorKernel;
    tvCache.set(key, fn);
  }
  fn(out, base, inputs, masks, eff, weights, scale);
}

function wasmCombine(out: Float32Array, base: Float32Array, inputs: Float32Array[], isDelta: boolean[], masks: Keep[], eff: number[], weights: number[], scale: number, consensus: boolean, normalize: boolean): boolean {
  let g = scale;
  if (!consensus) {
    // The same double the generated loop computes: Σ weights left to right, then the guard.
    let div = weights.slice(0, inputs.length).reduce((a, b) => a + b);
    if (!normalize) div = 1;
    else if (Math.abs(div) < 1e-8) div = 1;
    g = scale / div;
  }
  const models = inputs.map((input, i) => ({ input, isDelta: isDelta[i]!, keep: masks[i] ?? null, eff: eff[i]!, weight: weights[i]! }));
  return wasmTaskVectorCombine(out, base, models, consensus, normalize, g);
}

/** out[e] = x[e] − b[e] (a task vector), rounded to float32. */
export function subtractInto(out: Float32Array, x: Float32Array, b: Float32Array): void {
  if (wasmSubtract(out, x, b)) return;
  for (let e = 0, n = out.length; e < n; e++) out[e] = x[e]! - b[e]!;
}
