// WGSL float-float arithmetic: a value is a vec2f (hi, lo) with hi = fl(hi + lo), about 44 bits of
// mantissa. The CPU merge kernels evaluate in float64 and round once to float32; float32
// arithmetic alone can be many ulps off after cancellation, float-float stays within one.
//
// Error-free transformations only survive compilers that keep IEEE semantics. Shader compilers
// need not: Mesa's NIR rewrites (a + b) − a to b and contracts a·b + c, and WGSL's fma() may run
// unfused (measured on llvmpipe: TwoSum's error term came out 0, fma(a, b, −a·b) wrong for every
// input). Every intermediate therefore passes through opq(), an OR with a uniform that is always
// 0: the compiler cannot see through it, so no rewrite spans two operations. Products are split
// (Dekker, 12 + 12 bits, every partial product exact) rather than relying on fma.
//
// opq() needs `ZERO`, a u32 uniform expression that holds 0, defined by the shader using this.
export const FLOAT_FLOAT_WGSL = /* wgsl */ `
fn opq(v: f32) -> f32 { return bitcast<f32>(bitcast<u32>(v) | ZERO); }

fn two_sum(a: f32, b: f32) -> vec2f {
  let s = opq(a + b);
  let bb = opq(s - a);
  let e = opq(opq(a - opq(s - bb)) + opq(b - bb));
  return vec2f(s, e);
}

// |a| >= |b| (or a == 0)
fn quick_two_sum(a: f32, b: f32) -> vec2f {
  let s = opq(a + b);
  return vec2f(s, opq(b - opq(s - a)));
}

fn split(a: f32) -> vec2f {
  let c = opq(4097.0 * a);
  let hi = opq(c - opq(c - a));
  return vec2f(hi, opq(a - hi));
}

fn two_prod(a: f32, b: f32) -> vec2f {
  let p = opq(a * b);
  let x = split(a);
  let y = split(b);
  let e = opq(opq(opq(opq(opq(x.x * y.x) - p) + opq(x.x * y.y)) + opq(x.y * y.x)) + opq(x.y * y.y));
  return vec2f(p, e);
}

fn ff_add(a: vec2f, b: vec2f) -> vec2f {
  let s = two_sum(a.x, b.x);
  let t = two_sum(a.y, b.y);
  let u = quick_two_sum(s.x, opq(s.y + t.x));
  return quick_two_sum(u.x, opq(u.y + t.y));
}

fn ff_mul(a: vec2f, b: vec2f) -> vec2f {
  let p = two_prod(a.x, b.x);
  let c = opq(opq(a.x * b.y) + opq(a.y * b.x));
  return quick_two_sum(p.x, opq(p.y + c));
}

// Quotient refined twice by the exact remainder, so an approximate hardware division (NVIDIA's
// is not correctly rounded) only costs a little of the low part.
fn ff_div(a: vec2f, b: vec2f) -> vec2f {
  let q1 = opq(a.x / b.x);
  let r1 = ff_add(a, -ff_mul(b, vec2f(q1, 0.0)));
  let q2 = opq(r1.x / b.x);
  let r2 = ff_add(r1, -ff_mul(b, vec2f(q2, 0.0)));
  let q3 = opq(r2.x / b.x);
  return ff_add(quick_two_sum(q1, q2), vec2f(q3, 0.0));
}
`;

/** A double as the (hi, lo) float32 pair the kernels read: hi = fround(v), lo = fround(v − hi). */
export function floatFloatBits(v: number): [number, number] {
  const hi = Math.fround(v);
  const lo = Number.isFinite(hi) ? Math.fround(v - hi) : 0;
  const f = new Float32Array([hi, lo]);
  const u = new Uint32Array(f.buffer);
  return [u[0]!, u[1]!];
}
