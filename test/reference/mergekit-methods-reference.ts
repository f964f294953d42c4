// Float64 references for the methods taken from mergekit (sce, karcher, multislerp, nearswap,
// arcee_fusion, ram, ramplus_tl), written from a reading of mergekit's merge_methods/*.py: the
// same steps on whole vectors in plain Float64Arrays (no chunking, no Gram-matrix shortcuts, sorts
// instead of histogram selection), so they check the streaming implementations independently.
type Vec = Float64Array;

const sub = (a: Vec, b: Vec): Vec => a.map((x, i) => x - b[i]!);
const dot = (a: Vec, b: Vec): number => a.reduce((s, x, i) => s + x * b[i]!, 0);
const norm = (a: Vec): number => Math.sqrt(dot(a, a));
const scale = (a: Vec, c: number): Vec => a.map((x) => x * c);
const addInto = (acc: Vec, a: Vec, c = 1): void => {
  for (let i = 0; i < acc.length; i++) acc[i]! += c * a[i]!;
};

export function refNearswap(base: Vec, model: Vec, t: number): Vec {
  return base.map((a, i) => {
    const b = model[i]!;
    const w = Math.min(1, Math.max(0, t / Math.max(Math.abs(a - b), 1e-6)));
    return w * b + (1 - w) * a;
  });
}

function ramParts(base: Vec, models: Vec[], eps: number) {
  const tv = models.map((m) => sub(m, base));
  const nz = tv.map((t) => Uint8Array.from(t, (x) => +(Math.abs(x) > eps)));
  const counts = new Uint8Array(base.length);
  for (const row of nz) for (let e = 0; e < row.length; e++) counts[e]! += row[e]!;
  return { tv, nz, counts };
}

export function refRam(base: Vec, models: Vec[], eps = 1e-5): Vec {
  const { tv, nz, counts } = ramParts(base, models, eps);
  return base.map((b, e) => {
    let merged = 0;
    for (let i = 0; i < models.length; i++) {
      const z = nz[i]![e] ? tv[i]![e]! : 0;
      merged += z * +(counts[e] === 1) + (z * +(counts[e]! > 1)) / Math.max(counts[e]!, 1);
    }
    return b + merged;
  });
}

export function refRamplusTl(base: Vec, models: Vec[], r = 0.1, alpha = 0.2, eps = 1e-5): Vec {
  const { tv, nz, counts } = ramParts(base, models, eps);
  const lambda = models.map((_, i) => {
    let shared = 0;
    let unique = 0;
    for (let e = 0; e < base.length; e++) {
      if (nz[i]![e] && counts[e]! > 1) shared++;
      if (nz[i]![e] && counts[e] === 1) unique++;
    }
    const rho = shared / Math.max(unique, eps);
    return 1 + r * Math.min(alpha, Math.max(0, rho));
  });
  return base.map((b, e) => {
    let merged = 0;
    for (let i = 0; i < models.length; i++) {
      const z = nz[i]![e] ? tv[i]![e]! : 0;
      merged += z * +(counts[e] === 1) * lambda[i]! + (z * +(counts[e]! > 1)) / Math.max(counts[e]!, 1);
    }
    return b + merged;
  });
}

export function refSce(base: Vec, models: Vec[], selectTopk = 1): Vec {
  const n = base.length;
  let tv = models.map((m) => sub(m, base));
  const k = tv.length;
  if (selectTopk < 1) {
    let mask: number[];
    if (selectTopk <= 0) mask = new Array<number>(n).fill(0);
    else {
      const variance = Array.from({ length: n }, (_, e) => {
        const mean = tv.reduce((s, t) => s + t[e]!, 0) / k;
        return tv.reduce((s, t) => s + (t[e]! - mean) ** 2, 0) / k;
      });
      const nonzero = variance.filter((v) => v !== 0).length;
      const top = Math.floor(nonzero * selectTopk);
      const order = Array.from({ length: n }, (_, e) => e).sort((a, b) => variance[b]! - variance[a]! || a - b);
      mask = new Array<number>(n).fill(0);
      for (const e of order.slice(0, top)) mask[e] = 1;
    }
    tv = tv.map((t) => t.map((x, e) => x * mask[e]!));
  }
  // sign consensus on the (masked) task vectors: sign(Σ τ) with 0 counted as +
  const majority = Array.from({ length: n }, (_, e) => (tv.reduce((s, t) => s + t[e]!, 0) >= 0 ? 1 : -1));
  const erase = tv.map((t) => Array.from(t, (x, e) => +(Math.sign(x) === majority[e])));
  const means = tv.map((t) => dot(t, t) / n);
  const sum = means.reduce((a, b) => a + b, 0);
  const w = Math.abs(sum) < 1e-6 ? means.map(() => 1 / k) : means.map((m) => m / sum);
  return base.map((b, e) => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < k; i++) {
      num += tv[i]![e]! * w[i]! * erase[i]![e]!;
      den += w[i]! * erase[i]![e]!;
    }
    return b + num / Math.max(den, 1e-6);
  });
}

export function refKarcher(tensors: Vec[], maxIter = 10, tol = 1e-5): Vec {
  if (tensors.length === 1) return Float64Array.from(tensors[0]!);
  const alphas = tensors.map(() => 1 / tensors.length);
  const norms = tensors.map(norm);
  const units = tensors.map((t, i) => (norms[i] === 0 ? new Float64Array(t.length) : scale(t, 1 / norms[i]!)));
  const valid = norms.map((nv, i) => (nv > tol ? i : -1)).filter((i) => i >= 0);
  if (valid.length === 0) return new Float64Array(tensors[0]!.length);
  const alphaSum = valid.reduce((s, i) => s + alphas[i]!, 0);
  const a = valid.map((i) => alphas[i]! / alphaSum);
  const us = valid.map((i) => units[i]!);
  let u: Vec = new Float64Array(us[0]!.length);
  us.forEach((ui, j) => addInto(u, ui, a[j]!));
  const nu = norm(u);
  u = nu < tol ? Float64Array.from(us[0]!) : scale(u, 1 / nu);
  for (let iter = 0; iter < maxIter; iter++) {
    const T = new Float64Array(u.length);
    us.forEach((ui, j) => {
      const d = Math.min(1, Math.max(-1, dot(u, ui)));
      const theta = Math.acos(d);
      if (theta < tol) return;
      const f = (a[j]! * theta) / Math.sin(theta);
      for (let e = 0; e < T.length; e++) T[e]! += f * (ui[e]! - d * u[e]!);
    });
    const nT = norm(T);
    if (nT < tol) break;
    u = u.map((x, e) => Math.cos(nT) * x + Math.sin(nT) * (T[e]! / nT));
    const un = norm(u);
    if (un > tol) u = scale(u, 1 / un);
  }
  const s = alphas.reduce((acc, al, i) => acc + al * norms[i]!, 0);
  return scale(u, s);
}

export function refMultislerp(models: Vec[], weight: number[], base: Vec | null, normalizeWeights = true, eps = 1e-8): Vec {
  if (models.length === 1) return Float64Array.from(models[0]!);
  const ts = base ? models.map((m) => sub(m, base)) : models;
  let w = weight.slice();
  if (normalizeWeights) {
    const s = w.reduce((x, y) => x + y, 0);
    w = w.map((x) => x / s);
  }
  const norms = ts.map(norm);
  const units = ts.map((t, i) => scale(t, 1 / (norms[i]! + eps)));
  let mean: Vec = new Float64Array(ts[0]!.length);
  units.forEach((u, i) => addInto(mean, u, w[i]!));
  const meanNorm = norm(mean);
  if (meanNorm < eps) {
    if (ts.length !== 2) throw new Error('weighted sum is zero');
    const res = new Float64Array(mean.length);
    addInto(res, ts[0]!, w[0]!);
    addInto(res, ts[1]!, w[1]!);
    if (base) addInto(res, base);
    return res;
  }
  mean = scale(mean, 1 / meanNorm);
  const tangentResult = new Float64Array(mean.length);
  units.forEach((u, i) => {
    const d = dot(u, mean);
    for (let e = 0; e < mean.length; e++) tangentResult[e]! += w[i]! * (u[e]! - d * mean[e]!);
  });
  const tn = norm(tangentResult) + eps;
  const avgNorm = norms.reduce((acc, nv, i) => acc + nv * w[i]!, 0);
  const res = mean.map((m, e) => (m * Math.cos(tn) + tangentResult[e]! * (Math.sin(tn) / tn)) * avgNorm);
  if (base) addInto(res, base);
  return res;
}

/** |b − a| · KL(softmax(b) ‖ softmax(a)) per row of the last dimension (length `row`). */
export function refFusionImportance(base: Vec, model: Vec, row: number): Vec {
  const out = new Float64Array(base.length);
  const softmax = (x: Vec, from: number) => {
    const seg = x.slice(from, from + row);
    const mx = Math.max(...seg);
    const ex = seg.map((v) => Math.exp(v - mx));
    const s = ex.reduce((p, q) => p + q, 0);
    return ex.map((v) => v / s);
  };
  for (let r = 0; r < base.length; r += row) {
    const p = softmax(model, r).map((v) => v + 1e-8);
    const q = softmax(base, r).map((v) => v + 1e-8);
    const kl = p.reduce((s, pv, j) => s + pv * Math.log(pv / q[j]!), 0);
    for (let j = r; j < r + row; j++) out[j] = Math.abs(model[j]! - base[j]!) * kl;
  }
  return out;
}

export function refArceeFusion(base: Vec, model: Vec, row: number): { merged: Vec; threshold: number; kept: number } {
  const imp = refFusionImportance(base, model, row);
  const sorted = Float64Array.from(imp).sort();
  const quantile = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
  const threshold = quantile(0.5) + 1.5 * (quantile(0.75) - quantile(0.25));
  let kept = 0;
  const merged = base.map((a, e) => {
    const keep = imp[e]! >= threshold;
    kept += +keep;
    return keep ? model[e]! : a;
  });
  return { merged, threshold, kept };
}
