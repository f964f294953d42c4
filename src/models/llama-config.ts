// config.json of the Llama family of decoders (LlamaForCausalLM, MistralForCausalLM,
// Qwen2ForCausalLM): parsing with Hugging Face's defaults, validation with errors that name the file
// and the key, and the tensors (names and shapes) a checkpoint must hold.
//
// Differences between the three classes that matter here:
// - Qwen2 always has q/k/v biases (no o_proj bias); Llama has q/k/v/o biases when `attention_bias`
//   is true and gate/up/down biases when `mlp_bias` is true; Mistral has none.
// - Mistral's `sliding_window` (and Qwen2's, when `use_sliding_window` is true) is not implemented:
//   attention over a sequence no longer than the window is identical with or without it, so the
//   forward accepts such sequences and refuses longer ones (MODEL_E_PARAMS) instead of silently
//   computing something else. `notes` says so.
// - `rope_scaling` (linear, dynamic, yarn, llama3, ...) is refused unless null or absent.
import { fail } from '../errors.ts';
import type { ParamShape } from './mlp-classifier.ts';

export const LLAMA_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
export type LlamaArchitecture = (typeof LLAMA_ARCHITECTURES)[number];

/** Hugging Face's class defaults for keys a config.json may leave out. */
const DEFAULT_MAX_POSITIONS: Record<LlamaArchitecture, number> = {
  LlamaForCausalLM: 2048,
  MistralForCausalLM: 4096 * 32,
  Qwen2ForCausalLM: 32768,
};
const DEFAULT_RMS_NORM_EPS = 1e-6;
const DEFAULT_ROPE_THETA = 10000;

/** A parsed, validated config.json of a Llama-family decoder. */
export interface LlamaConfig {
  architecture: LlamaArchitecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  vocabSize: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** q_proj, k_proj and v_proj have biases (Qwen2 always; Llama with attention_bias). */
  qkvBias: boolean;
  /** o_proj has a bias (Llama with attention_bias). */
  oBias: boolean;
  /** gate_proj, up_proj and down_proj have biases (Llama with mlp_bias). */
  mlpBias: boolean;
  /** Sequences longer than this are refused (the sliding window is not implemented); null: none. */
  slidingWindow: number | null;
  /** Token ids that end generation, from eos_token_id (may be empty). */
  eosTokenIds: number[];
  bosTokenId: number | null;
  /** Things the config asked for that this implementation treats specially, in words. */
  notes: string[];
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Parse and validate a config.json object; every problem names `source` and the key at fault. */
export function llamaConfigFromJson(raw: unknown, source: string): LlamaConfig {
  const bad = (key: string, want: string, got: unknown): never =>
    fail('IO_E_CONFIG', `${source}: key "${key}" must be ${want} (got ${describe(got)})`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('IO_E_CONFIG', `${source} must hold a JSON object (got ${describe(raw)})`);
  const c = raw as Record<string, unknown>;
  const has = (key: string) => c[key] !== undefined && c[key] !== null;

  const archs = c.architectures;
  const arch = Array.isArray(archs) ? archs[0] : undefined;
  if (!LLAMA_ARCHITECTURES.includes(arch as LlamaArchitecture)) bad('architectures', `a list starting with one of ${LLAMA_ARCHITECTURES.join(', ')}`, archs);
  const architecture = arch as LlamaArchitecture;

  const positiveInt = (key: string, dflt?: number): number => {
    if (!has(key)) {
      if (dflt !== undefined) return dflt;
      bad(key, 'a positive integer (it is required)', c[key]);
    }
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(key, 'a positive integer', v);
    return v as number;
  };
  const positiveNumber = (key: string, dflt: number): number => {
    if (!has(key)) return dflt;
    const v = c[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(key, 'a finite positive number', v);
    return v as number;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    if (!has(key)) return dflt;
    if (typeof c[key] !== 'boolean') bad(key, 'true or false', c[key]);
    return c[key] as boolean;
  };
  const tokenIds = (key: string): number[] => {
    if (!has(key)) return [];
    const v = c[key];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((t) => typeof t === 'number' && Number.isSafeInteger(t) && t >= 0)) bad(key, 'a token id or a list of token ids', v);
    return list as number[];
  };

  const hiddenSize = positiveInt('hidden_size');
  const intermediateSize = positiveInt('intermediate_size');
  const numLayers = positiveInt('num_hidden_layers');
  const numHeads = positiveInt('num_attention_heads');
  const numKvHeads = positiveInt('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    bad('num_key_value_heads', `a divisor of num_attention_heads = ${numHeads} (each key/value head serves a group of query heads)`, numKvHeads);
  }
  if (!has('head_dim') && hiddenSize % numHeads !== 0) {
    bad('num_attention_heads', `a divisor of hidden_size = ${hiddenSize} (or give head_dim)`, numHeads);
  }
  const headDim = positiveInt('head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0) bad('head_dim', 'even (rotary embeddings rotate pairs of dimensions)', headDim);
  const vocabSize = positiveInt('vocab_size');
  const rmsNormEps = positiveNumber('rms_norm_eps', DEFAULT_RMS_NORM_EPS);
  const ropeTheta = positiveNumber('rope_theta', DEFAULT_ROPE_THETA);
  const tieWordEmbeddings = bool('tie_word_embeddings', false);
  const maxPositionEmbeddings = positiveInt('max_position_embeddings', DEFAULT_MAX_POSITIONS[architecture]);

  if (has('rope_scaling')) {
    bad('rope_scaling', 'null or absent: scaled rotary embeddings (linear, dynamic, yarn, llama3, ...) are not implemented, and running without them would give wrong logits', c.rope_scaling);
  }
  if (has('hidden_act') && c.hidden_act !== 'silu') bad('hidden_act', '"silu" (the SwiGLU MLP is the only one implemented)', c.hidden_act);
  if (has('partial_rotary_factor') && c.partial_rotary_factor !== 1) bad('partial_rotary_factor', '1 (rotary embeddings over the whole head)', c.partial_rotary_factor);

  const notes: string[] = [];
  let qkvBias = false;
  let oBias = false;
  let mlpBias = false;
  let slidingWindow: number | null = null;
  const window = (key: string): number => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(key, 'a positive integer or null', v);
    return v as number;
  };
  if (architecture === 'LlamaForCausalLM') {
    qkvBias = oBias = bool('attention_bias', false);
    mlpBias = bool('mlp_bias', false);
  } else if (architecture === 'Qwen2ForCausalLM') {
    qkvBias = true;
    if (bool('use_sliding_window', false) && has('sliding_window')) slidingWindow = window('sliding_window');
  } else if (has('sliding_window')) {
    slidingWindow = window('sliding_window');
  }
  if (slidingWindow !== null) {
    notes.push(`sliding_window ${slidingWindow} is not implemented: sequences up to ${slidingWindow} tokens are exact (the window changes nothing there); longer ones are refused`);
  }

  return {
    architecture,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps,
    ropeTheta,
    vocabSize,
    tieWordEmbeddings,
    maxPositionEmbeddings,
    qkvBias,
    oBias,
    mlpBias,
    slidingWindow,
    eosTokenIds: tokenIds('eos_token_id'),
    bosTokenId: tokenIds('bos_token_id')[0] ?? null,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// Parameters

/** Every tensor the model needs, in checkpoint order (embeddings, layers, final norm, lm_head). */
export function llamaParameterShapes(config: LlamaConfig): ParamShape[] {
  const h = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const inter = config.intermediateSize;
  const out: ParamShape[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocabSize, h] }];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}.`;
    out.push({ name: `${p}input_layernorm.weight`, shape: [h] });
    const proj = (name: string, rows: number, cols: number, bias: boolean) => {
      out.push({ name: `${p}${name}.weight`, shape: [rows, cols] });
      if (bias) out.push({ name: `${p}${name}.bias`, shape: [rows] });
    };
    proj('self_attn.q_proj', q, h, config.qkvBias);
    proj('self_attn.k_proj', kv, h, config.qkvBias);
    proj('self_attn.v_proj', kv, h, config.qkvBias);
    proj('self_attn.o_proj', h, q, config.oBias);
    out.push({ name: `${p}post_attention_layernorm.weight`, shape: [h] });
    proj('mlp.gate_proj', inter, h, config.mlpBias);
    proj('mlp.up_proj', inter, h, config.mlpBias);
    proj('mlp.down_proj', h, inter, config.mlpBias);
  }
  out.push({ name: 'model.norm.weight', shape: [h] });
  // Tied checkpoints usually leave lm_head out; one that has it anyway is fine (extras are allowed).
  if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [config.vocabSize, h] });
  return out;
}

const fmtShape = (s: readonly number[]) => JSON.stringify(s);
const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Check that `shapes` (tensor name → shape, e.g. from a checkpoint's header) holds every tensor the
 * config needs, with the right shape. Extra tensors are allowed. `source` names the checkpoint.
 */
export function checkLlamaParams(config: LlamaConfig, shapes: Map<string, readonly number[]>, source = 'the parameters'): void {
  for (const { name, shape } of llamaParameterShapes(config)) {
    const got = shapes.get(name);
    if (got === undefined) {
      const hint = name === 'lm_head.weight' ? ' (if the model shares it with model.embed_tokens.weight, its config.json should say "tie_word_embeddings": true)' : '';
      fail('IO_E_NO_TENSOR', `tensor ${name} ${fmtShape(shape)} is missing from ${source}; the model's config needs it${hint}`);
    }
    if (!sameShape(got, shape)) {
      fail('MERGE_E_SHAPE', `tensor ${name} is ${fmtShape(got)} in ${source} but the model's config needs ${fmtShape(shape)}`);
    }
  }
}
