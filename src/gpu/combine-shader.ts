// The WGSL compute shader for one elementwise combine (merge/elementwise.ts) over given input and
// output dtypes. Each invocation handles an element pair (2j, 2j+1), so a 16-bit output is one
// u32 word per invocation. Arithmetic mirrors the CPU kernels (fused-kernels.ts) operation by
// operation, in float-float where the CPU computes in float64, and rounds once to float32 at the
// end as the CPU's Float32Array store does.
//
// Sign election is discontinuous: where Σ aᵢ cancels to within float-float's error, its sign is
// rounding noise and may differ from the CPU's float64 noise. Such elements are listed in the
// status buffer ("ambiguous") and recomputed on the CPU by the host (cpu-fixup.ts), so the output
// still follows the CPU path there.
//
// Bindings: 0 the parameters (uniform, layout in paramRows), 1 the status words (count of values
// the output dtype cannot hold, first such element, count of ambiguous elements, unused, then up
// to AMBIGUOUS_CAPACITY ambiguous element indices), 2 the output, 3.. the base (when the combine
// uses one) and the models, as raw u32 words.
import type { FloatDtype } from '../io/dtype.ts';
import { roundsTau, type ElementwiseCombine } from '../merge/elementwise.ts';
import { FLOAT_FLOAT_WGSL } from './wgsl/float-float.ts';
import { HALF_WGSL, OVERFLOW_BITS } from './wgsl/half-precision.ts';

export interface ShaderShape {
  combine: ElementwiseCombine;
  /** Input dtypes: the base first when the combine has one, then the models. */
  inputs: FloatDtype[];
  out: FloatDtype;
  workgroupSize: number;
}

/** Ambiguous elements listed per tile; past this many the host recomputes the whole tile on the CPU. */
export const AMBIGUOUS_CAPACITY = 1024;
export const STATUS_WORDS = 4 + AMBIGUOUS_CAPACITY;

/** Whether the combine reads the base model. */
export function usesBase(c: ElementwiseCombine): boolean {
  return c.kind === 'task-vector' || c.baseWeight !== undefined;
}

/** MurmurHash3's 32-bit finaliser, the counter hash of the CPU's DARE draws (src/tensor/random.ts). */
export const MURMUR_WGSL = /* wgsl */ `
fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}
`;

/**
 * The uniform's vec4<u32> rows: 0 (zero, n, first element lo, hi), 1 (gain hi, lo, scale hi, lo),
 * 2+i model i's (eff hi, lo, weight hi, lo), 2+K+i model i's keep: DARE (mask key, threshold, 0, 0),
 * TIES trimming (|τ| threshold bits (0xffffffff: keep nothing), cutoff lo, cutoff hi, 0), 2+2K+i
 * model i's dropped selection (breadcrumbs' outliers), as the trimming row.
 */
export function paramRows(models: number): number {
  return 2 + 3 * models;
}

function load(dtype: FloatDtype, binding: string, v: string): string {
  if (dtype === 'F32') return `let ${v}0 = bitcast<f32>(${binding}[e0]); let ${v}1 = bitcast<f32>(${binding}[min(e0 + 1u, last)]);`;
  const dec = dtype === 'F16' ? 'f16_to_f32' : 'bf16_to_f32';
  return `let ${v}w = ${binding}[j]; let ${v}0 = ${dec}(${v}w & 0xffffu); let ${v}1 = ${dec}(${v}w >> 16u);`;
}

function combineBody(c: ElementwiseCombine, k: number): string[] {
  const ff = (row: number, col: 'xy' | 'zw') => `bitcast<vec2f>(P[${row}u].${col})`;
  const lines: string[] = [];
  if (c.kind === 'weighted-sum') {
    // out = (w_b b +) Σ wᵢ xᵢ, left to right
    if (c.baseWeight !== undefined) lines.push(`var s = ff_mul(${ff(1, 'xy')}, vec2f(b, 0.0));`);
    for (let i = 0; i < k; i++) {
      const term = `ff_mul(${ff(2 + i, 'xy')}, vec2f(x${i}, 0.0))`;
      lines.push(i === 0 && c.baseWeight === undefined ? `var s = ${term};` : `s = ff_add(s, ${term});`);
    }
    lines.push('return s.x;');
    return lines;
  }
  for (let i = 0; i < k; i++) {
    // τ = x − b: exact as a float-float, or rounded to float32 where the CPU path keeps a float32 τ
    lines.push(roundsTau(c, i) ? `let t${i} = vec2f(opq(x${i} - b), 0.0);` : `let t${i} = two_sum(x${i}, -b);`);
    lines.push(`var a${i} = ff_mul(t${i}, ${ff(2 + i, 'xy')});`);
    if (c.keep[i]!.kind === 'bernoulli') lines.push(`if (!kept(${2 + k + i}u, e)) { a${i} = vec2f(0.0); }`);
    const keep = c.keep[i]!;
    if (keep.kind === 'top') {
      const bits = `bitcast<u32>(opq(x${i} - b))`;
      const dropped = keep.drop ? ` || kept_top(${2 + 2 * k + i}u, e, ${bits})` : '';
      lines.push(`if (!kept_top(${2 + k + i}u, e, ${bits})${dropped}) { a${i} = vec2f(0.0); }`);
    }
  }
  const sum = (terms: string[], name: string) => terms.map((t, i) => (i === 0 ? `var ${name} = ${t};` : `${name} = ff_add(${name}, ${t});`));
  if (!c.consensus) {
    lines.push(...sum(Array.from({ length: k }, (_, i) => `a${i}`), 's'));
    lines.push(`return ff_add(vec2f(b, 0.0), ff_mul(s, ${ff(1, 'xy')})).x;`);
    return lines;
  }
  // Sign election: the sign of Σ aᵢ, zero counting as + (NaN as −, as the CPU's comparison gives).
  lines.push(...sum(Array.from({ length: k }, (_, i) => `a${i}`), 'all'));
  // 2^-40 of the terms' magnitude: beyond both float-float's and float64's rounding error
  lines.push(`let mag = ${Array.from({ length: k }, (_, i) => `abs(a${i}.x)`).join(' + ')};`);
  lines.push('if (mag > 0.0 && abs(all.x) <= 9.094947e-13 * mag) { flag(e); }');
  lines.push('let pos = all.x >= 0.0;');
  for (let i = 0; i < k; i++) lines.push(`let k${i} = select((a${i}.x < 0.0), (a${i}.x > 0.0), pos);`);
  lines.push(...sum(Array.from({ length: k }, (_, i) => `select(vec2f(0.0), a${i}, k${i})`), 's'));
  if (c.normalize) {
    lines.push(...sum(Array.from({ length: k }, (_, i) => `select(vec2f(0.0), ${ff(2 + i, 'zw')}, k${i})`), 'd'));
    lines.push(`let wmag = ${Array.from({ length: k }, (_, i) => `select(0.0, abs(bitcast<f32>(P[${2 + i}u].z)), k${i})`).join(' + ')};`);
    lines.push('if (wmag > 0.0 && abs(d.x) <= 9.094947e-13 * wmag) { flag(e); }');
    lines.push('if (d.x == 0.0) { d = vec2f(1.0, 0.0); }');
    lines.push('s = ff_div(s, d);');
  }
  lines.push(`return ff_add(vec2f(b, 0.0), ff_mul(s, ${ff(1, 'zw')})).x;`);
  return lines;
}

export function combineShader(shape: ShaderShape): string {
  const { combine: c, out } = shape;
  const base = usesBase(c);
  const k = shape.inputs.length - (base ? 1 : 0);
  const names = shape.inputs.map((_, i) => (base && i === 0 ? 'inb' : `in${base ? i - 1 : i}`));
  const vars = shape.inputs.map((_, i) => (base && i === 0 ? 'b' : `x${base ? i - 1 : i}`));
  const rows = paramRows(k);
  const bindings = names.map((n, i) => `@group(0) @binding(${3 + i}) var<storage, read> ${n}: array<u32>;`);
  const args = vars.map((v) => `${v}: f32`).join(', ');
  const call = (half: 0 | 1) => `value(e0 + ${half}u, ${vars.map((v) => `${v}${half}`).join(', ')})`;
  const encode = out === 'F32' ? '' : out === 'F16' ? 'f32_to_f16' : 'f32_to_bf16';
  return [
    `@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${rows}>;`,
    `@group(0) @binding(1) var<storage, read_write> status: array<atomic<u32>, ${STATUS_WORDS}>;`,
    '@group(0) @binding(2) var<storage, read_write> outw: array<u32>;',
    ...bindings,
    FLOAT_FLOAT_WGSL.replaceAll('ZERO', 'P[0u].x'),
    HALF_WGSL.replaceAll('ZERO', 'P[0u].x'),
    MURMUR_WGSL,
    // Element e's keep draw (random.ts uniformAt < density): the global index is first + e.
    `fn kept(row: u32, e: u32) -> bool {
  let lo = P[0u].z + e;
  let hi = P[0u].w + select(0u, 1u, lo < P[0u].z);
  return (fmix32(lo ^ P[row].x ^ (hi * 0x9e3779b1u)) >> 8u) < P[row].y;
}`,
    // TIES trimming: |τ| above the threshold bits, or equal to it before the cutoff element.
    `fn kept_top(row: u32, e: u32, tau: u32) -> bool {
  let a = tau & 0x7fffffffu;
  if (a != P[row].x) { return a > P[row].x && P[row].x != 0xffffffffu; }
  let lo = P[0u].z + e;
  let hi = P[0u].w + select(0u, 1u, lo < P[0u].z);
  return hi < P[row].z || (hi == P[row].z && lo < P[row].y);
}`,
    `fn flag(e: u32) {
  let i = atomicAdd(&status[2], 1u);
  if (i < ${AMBIGUOUS_CAPACITY}u) { atomicStore(&status[4u + i], e); }
}`,
    `fn value(e: u32, ${args}) -> f32 {`,
    ...combineBody(c, k).map((l) => `  ${l}`),
    '}',
    `fn check(e: u32, v: f32) {
  if ((bitcast<u32>(v) & 0x7fffffffu) >= ${OVERFLOW_BITS[out]}u) {
    atomicAdd(&status[0], 1u);
    atomicMin(&status[1], e);
  }
}`,
    `@compute @workgroup_size(${shape.workgroupSize})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let j = gid.x + gid.y * groups.x * ${shape.workgroupSize}u;
  let n = P[0u].y;
  let e0 = 2u * j;
  if (e0 >= n) { return; }
  let last = n - 1u;
  let has1 = e0 + 1u < n;`,
    ...shape.inputs.map((d, i) => '  ' + load(d, names[i]!, vars[i]!)),
    `  let v0 = ${call(0)};
  check(e0, v0);
  var v1 = 0.0;
  if (has1) { v1 = ${call(1)}; check(e0 + 1u, v1); }`,
    out === 'F32'
      ? '  outw[e0] = bitcast<u32>(v0);\n  if (has1) { outw[e0 + 1u] = bitcast<u32>(v1); }'
      : `  outw[j] = ${encode}(bitcast<u32>(v0)) | (select(0u, ${encode}(bitcast<u32>(v1)), has1) << 16u);`,
    '}',
    '',
  ].join('\n');
}
