// WGSL compute shaders for the statistics passes of the task-vector family (select.ts, sparsify.ts),
// over τ = model − base in float32 (the CPU path's subtraction, element by element):
// - high: a 2^15-bin histogram of |τ|'s bits >> 16 (atomic counts: exact, order-free);
// - low: a 2^16-bin histogram of the low 16 bits of the |τ| in one high bucket;
// - equal: per statistics chunk, how many |τ| equal the threshold (for the index-order admission);
// - norm: Σ|τ|, Σ τ² (float-float) or max |τ| before and after the keep mask, one partial per
//   workgroup, summed by the host in float64;
// - gram: Σ base·model, Σ base², Σ model² (float-float), two partial rows per workgroup.
// Each invocation handles an element pair (2j, 2j+1), as the combine shader does, so 16-bit
// inputs are one u32 word per invocation.
//
// Bindings: 0 parameters (uniform), 1 the output (counts, or the norm partials as f32 bits),
// 2 the base, 3 the model, raw u32 words. Parameter rows (vec4<u32>): 0 (zero, n, first element
// of the tile, partial slot of the tile's first workgroup), 1 (bucket or threshold bits, elements
// per statistics chunk, 0, 0), 2 DARE's (key, threshold), 3 the kept selection (bits, cutoff), 4
// the dropped selection (bits, cutoff).
import type { FloatDtype } from '../io/dtype.ts';
import { MURMUR_WGSL } from './combine-shader.ts';
import { FLOAT_FLOAT_WGSL } from './wgsl/float-float.ts';
import { HALF_WGSL } from './wgsl/half-precision.ts';

export type StatisticsPass = 'high' | 'low' | 'equal' | 'norm' | 'gram';
export type NormKind = 'l1' | 'l2' | 'linf';
export type NormMask = 'all' | 'bernoulli' | 'selection';

export interface StatisticsShape {
  pass: StatisticsPass;
  base: FloatDtype;
  model: FloatDtype;
  norm?: NormKind;
  mask?: NormMask;
  /** Selection masks: whether a dropped selection (breadcrumbs' outliers) is subtracted. */
  drop?: boolean;
  workgroupSize: number;
}

export const HIGH_BINS = 1 << 15;
export const LOW_BINS = 1 << 16;
export const PARAM_ROWS = 5;

function load(dtype: FloatDtype, binding: string, v: string): string {
  if (dtype === 'F32') return `let ${v}0 = bitcast<f32>(${binding}[e0]); let ${v}1 = bitcast<f32>(${binding}[min(e0 + 1u, last)]);`;
  const dec = dtype === 'F16' ? 'f16_to_f32' : 'bf16_to_f32';
  return `let ${v}w = ${binding}[j]; let ${v}0 = ${dec}(${v}w & 0xffffu); let ${v}1 = ${dec}(${v}w >> 16u);`;
}

function perElement(s: StatisticsShape): string[] {
  switch (s.pass) {
    case 'high':
      return ['atomicAdd(&outc[a >> 16u], 1u);'];
    case 'low':
      return ['if ((a >> 16u) == P[1u].x) { atomicAdd(&outc[a & 0xffffu], 1u); }'];
    case 'equal':
      return ['if (a == P[1u].x) { atomicAdd(&outc[(P[0u].z + e) / P[1u].y], 1u); }'];
    case 'gram':
      return ['before = ff_add(before, two_prod(bv, xv));', 'after = ff_add(after, two_prod(bv, bv));', 'third = ff_add(third, two_prod(xv, xv));'];
    case 'norm': {
      const keep = s.mask === 'bernoulli' ? 'kept(e)' : s.mask === 'selection' ? (s.drop ? 'kept_top(3u, e, a) && !kept_top(4u, e, a)' : 'kept_top(3u, e, a)') : 'true';
      const term = s.norm === 'l2' ? 'two_prod(t, t)' : 'vec2f(abs(t), 0.0)';
      const add = s.norm === 'linf' ? (acc: string) => `${acc} = vec2f(max(${acc}.x, abs(t)), 0.0);` : (acc: string) => `${acc} = ff_add(${acc}, ${term});`;
      return [add('before'), `if (${keep}) { ${add('after')} }`];
    }
  }
}

export function statisticsShader(s: StatisticsShape): string {
  const wg = s.workgroupSize;
  const norm = s.pass === 'norm' || s.pass === 'gram';
  const gram = s.pass === 'gram';
  const body = perElement(s);
  const visit = (half: 0 | 1) =>
    gram
      ? [`{`, `  let bv = b${half};`, `  let xv = x${half};`, ...body.map((l) => `  ${l}`), '}']
      : [`{`, `  let e = e0 + ${half}u;`, `  let t = opq(x${half} - b${half});`, '  let a = bitcast<u32>(t) & 0x7fffffffu;', ...body.map((l) => `  ${l}`), '}'];
  return [
    `@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${PARAM_ROWS}>;`,
    norm ? '@group(0) @binding(1) var<storage, read_write> outp: array<vec4<f32>>;' : '@group(0) @binding(1) var<storage, read_write> outc: array<atomic<u32>>;',
    '@group(0) @binding(2) var<storage, read> inb: array<u32>;',
    '@group(0) @binding(3) var<storage, read> inx: array<u32>;',
    FLOAT_FLOAT_WGSL.replaceAll('ZERO', 'P[0u].x'),
    HALF_WGSL.replaceAll('ZERO', 'P[0u].x'),
    MURMUR_WGSL,
    // DARE's draw for element e of the tile (random.ts uniformAt < density); tensors stay under 2^32 elements here.
    `fn kept(e: u32) -> bool {
  return (fmix32((P[0u].z + e) ^ P[2u].x) >> 8u) < P[2u].y;
}`,
    // select.ts's rule: |τ| above the threshold bits, or equal to them before the cutoff element (0xffffffff: nothing).
    `fn kept_top(row: u32, e: u32, a: u32) -> bool {
  if (a != P[row].x) { return a > P[row].x && P[row].x != 0xffffffffu; }
  return P[0u].z + e < P[row].y;
}`,
    norm ? `var<workgroup> sb: array<vec2f, ${wg}>;\nvar<workgroup> sa: array<vec2f, ${wg}>;${gram ? `\nvar<workgroup> sc: array<vec2f, ${wg}>;` : ''}` : '',
    `@compute @workgroup_size(${wg})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3u) {
  let j = gid.x + gid.y * groups.x * ${wg}u;
  let n = P[0u].y;
  let e0 = 2u * j;
  var before = vec2f(0.0);
  var after = vec2f(0.0);
  var third = vec2f(0.0);
  if (e0 < n) {
    let last = n - 1u;`,
    '    ' + load(s.base, 'inb', 'b'),
    '    ' + load(s.model, 'inx', 'x'),
    ...visit(0).map((l) => `    ${l}`),
    '    if (e0 + 1u < n) {',
    ...visit(1).map((l) => `      ${l}`),
    '    }',
    '  }',
    ...(norm
      ? [
          '  sb[lid] = before;',
          '  sa[lid] = after;',
          ...(gram ? ['  sc[lid] = third;'] : []),
          `  for (var k = ${wg / 2}u; k > 0u; k = k >> 1u) {`,
          '    workgroupBarrier();',
          '    if (lid < k) {',
          s.norm === 'linf'
            ? '      sb[lid] = vec2f(max(sb[lid].x, sb[lid + k].x), 0.0);\n      sa[lid] = vec2f(max(sa[lid].x, sa[lid + k].x), 0.0);'
            : `      sb[lid] = ff_add(sb[lid], sb[lid + k]);\n      sa[lid] = ff_add(sa[lid], sa[lid + k]);${gram ? '\n      sc[lid] = ff_add(sc[lid], sc[lid + k]);' : ''}`,
          '    }',
          '  }',
          gram
            ? '  if (lid == 0u) { let slot = 2u * (P[0u].w + wid.x + wid.y * groups.x); outp[slot] = vec4f(sb[0].x, sb[0].y, sa[0].x, sa[0].y); outp[slot + 1u] = vec4f(sc[0].x, sc[0].y, 0.0, 0.0); }'
            : '  if (lid == 0u) { outp[P[0u].w + wid.x + wid.y * groups.x] = vec4f(sb[0].x, sb[0].y, sa[0].x, sa[0].y); }',
        ]
      : []),
    '}',
    '',
  ].join('\n');
}
