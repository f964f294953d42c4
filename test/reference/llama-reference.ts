// An independent float64 Llama-family decoder in plain loops (no tfjs), written from the math, for
// oracle tests. It reads the raw config.json object itself (its own defaults, as in transformers),
// so it checks the config parser too. One sequence at a time, no cache, no padding.
//
//   x₀ = E[ids]
//   per layer:  a = RMS(x)·g₁;  qₕ, kₖ, vₖ = a·Wᵀ (+b);  rotate (qₕ, kₖ) by position;
//               oₕ[i] = Σ_{j≤i} softmax_j(qₕ[i]·k_{g(h)}[j] / √d) v_{g(h)}[j];  x += [o₁..o_H]·W_oᵀ (+b)
//               m = RMS(x)·g₂;  x += W_down (silu(W_gate m) ⊙ (W_up m))
//   logits = (RMS(x)·g) · W_lmᵀ   (W_lm = E when tied)
// RMS(x) = x / √(mean(x²) + ε). Rotation: dimension i < d/2 pairs with i + d/2, angle pos·θ^(-2i/d).

export type RefParams = Record<string, ArrayLike<number>>;

interface Dims {
  hidden: number;
  inter: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  theta: number;
  tied: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
}

function dims(cfg: Record<string, unknown>): Dims {
  const num = (k: string, dflt?: number): number => {
    const v = cfg[k] ?? dflt;
    if (typeof v !== 'number') throw new Error(`reference: config has no number ${k}`);
    return v;
  };
  const arch = (cfg.architectures as string[])[0];
  const heads = num('num_attention_heads');
  const hidden = num('hidden_size');
  const llamaAttnBias = arch === 'LlamaForCausalLM' && cfg.attention_bias === true;
  return {
    hidden,
    inter: num('intermediate_size'),
    layers: num('num_hidden_layers'),
    heads,
    kvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hidden / heads),
    vocab: num('vocab_size'),
    eps: num('rms_norm_eps', 1e-6),
    theta: num('rope_theta', 10000),
    tied: cfg.tie_word_embeddings === true,
    qkvBias: arch === 'Qwen2ForCausalLM' || llamaAttnBias,
    oBias: llamaAttnBias,
    mlpBias: arch === 'LlamaForCausalLM' && cfg.mlp_bias === true,
  };
}

function get(p: RefParams, name: string): ArrayLike<number> {
  const v = p[name];
  if (!v) throw new Error(`reference: no tensor ${name}`);
  return v;
}

/** y = W x (+ b) for W stored row-major [out, in]. */
function matvec(w: ArrayLike<number>, x: Float64Array, out: number, bias?: ArrayLike<number>): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0;
    const base = o * n;
    for (let i = 0; i < n; i++) s += w[base + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rms(x: Float64Array, g: ArrayLike<number>, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * g[i]!);
}

/** Rotate one head's vector (offset `at`, length d) in place by position `pos`. */
function rotate(v: Float64Array, at: number, d: number, pos: number, theta: number): void {
  const half = d / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * Math.pow(theta, (-2 * i) / d);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    const a = v[at + i]!;
    const b = v[at + i + half]!;
    v[at + i] = a * c - b * s;
    v[at + i + half] = b * c + a * s;
  }
}

/** Logits [T][vocab] for one sequence of token ids at positions 0..T-1 (or `positions`). */
export function refLogits(cfg: Record<string, unknown>, p: RefParams, ids: number[], positions?: number[]): Float64Array[] {
  const D = dims(cfg);
  const T = ids.length;
  const d = D.headDim;
  const emb = get(p, 'model.embed_tokens.weight');
  let xs: Float64Array[] = ids.map((id) => Float64Array.from({ length: D.hidden }, (_, i) => emb[id * D.hidden + i]!));
  const pos = positions ?? ids.map((_, t) => t);

  for (let l = 0; l < D.layers; l++) {
    const pre = `model.layers.${l}.`;
    const w = (n: string) => get(p, pre + n);
    const b = (n: string, on: boolean) => (on ? get(p, pre + n) : undefined);
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const a = rms(xs[t]!, w('input_layernorm.weight'), D.eps);
      const q = matvec(w('self_attn.q_proj.weight'), a, D.heads * d, b('self_attn.q_proj.bias', D.qkvBias));
      const k = matvec(w('self_attn.k_proj.weight'), a, D.kvHeads * d, b('self_attn.k_proj.bias', D.qkvBias));
      const v = matvec(w('self_attn.v_proj.weight'), a, D.kvHeads * d, b('self_attn.v_proj.bias', D.qkvBias));
      for (let h = 0; h < D.heads; h++) rotate(q, h * d, d, pos[t]!, D.theta);
      for (let h = 0; h < D.kvHeads; h++) rotate(k, h * d, d, pos[t]!, D.theta);
      qs.push(q);
      ks.push(k);
      vs.push(v);
    }
    const next: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const o = new Float64Array(D.heads * d);
      for (let h = 0; h < D.heads; h++) {
        const g = Math.floor(h / (D.heads / D.kvHeads));
        const scores: number[] = [];
        for (let j = 0; j <= t; j++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += qs[t]![h * d + i]! * ks[j]![g * d + i]!;
          scores.push(s / Math.sqrt(d));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j <= t; j++) for (let i = 0; i < d; i++) o[h * d + i]! += (e[j]! / z) * vs[j]![g * d + i]!;
      }
      const x = xs[t]!.slice();
      const attn = matvec(w('self_attn.o_proj.weight'), o, D.hidden, b('self_attn.o_proj.bias', D.oBias));
      for (let i = 0; i < D.hidden; i++) x[i]! += attn[i]!;
      const m = rms(x, w('post_attention_layernorm.weight'), D.eps);
      const gate = matvec(w('mlp.gate_proj.weight'), m, D.inter, b('mlp.gate_proj.bias', D.mlpBias));
      const up = matvec(w('mlp.up_proj.weight'), m, D.inter, b('mlp.up_proj.bias', D.mlpBias));
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = matvec(w('mlp.down_proj.weight'), act, D.hidden, b('mlp.down_proj.bias', D.mlpBias));
      for (let i = 0; i < D.hidden; i++) x[i]! += down[i]!;
      next.push(x);
    }
    xs = next;
  }
  const head = get(p, D.tied ? 'model.embed_tokens.weight' : 'lm_head.weight');
  return xs.map((x) => matvec(head, rms(x, get(p, 'model.norm.weight'), D.eps), D.vocab));
}

/** log softmax of one row of logits, in float64. */
export function refLogSoftmax(logits: ArrayLike<number>): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < logits.length; i++) mx = Math.max(mx, logits[i]!);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i]! - mx);
  const lz = mx + Math.log(z);
  return Float64Array.from(logits, (v) => v - lz);
}

/** Σ log p(target[j] | input, target[..j]) for one example. */
export function refScore(cfg: Record<string, unknown>, p: RefParams, input: number[], target: number[]): number {
  const logits = refLogits(cfg, p, [...input, ...target]);
  let s = 0;
  target.forEach((tok, j) => (s += refLogSoftmax(logits[input.length - 1 + j]!)[tok]!));
  return s;
}

/** Index of the largest value (the first one on ties). */
export function refArgmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}
