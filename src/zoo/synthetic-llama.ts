// Llama-shaped checkpoints generated from a seed, tensor by tensor (so any size fits in memory):
// a base, and experts that are the base plus a small deterministic perturbation. Used by the demo,
// the end-to-end tests and the merge benchmark; nothing is downloaded.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointWriter } from '../io/checkpoint-writer.ts';
import { encodeFromF32, DTYPE_SIZES, type FloatDtype } from '../io/dtype.ts';
import type { PlannedTensor } from '../io/safetensors-writer.ts';
import { hashString, streamKey, uniformAt } from '../tensor/random.ts';

export interface LlamaShape {
  hidden: number;
  intermediate: number;
  layers: number;
  vocab: number;
  heads: number;
  kvHeads: number;
  tieEmbeddings?: boolean;
}

export const TINY_LLAMA: LlamaShape = { hidden: 64, intermediate: 160, layers: 4, vocab: 128, heads: 4, kvHeads: 2 };
/** About 0.97 GB in f16 (483 M parameters). */
export const LLAMA_1GB: LlamaShape = { hidden: 2048, intermediate: 5632, layers: 8, vocab: 32000, heads: 32, kvHeads: 4 };
/** About 1.1 B parameters, TinyLlama's shape. */
export const LLAMA_1B: LlamaShape = { hidden: 2048, intermediate: 5632, layers: 22, vocab: 32000, heads: 32, kvHeads: 4 };

export function llamaTensors(s: LlamaShape, dtype: FloatDtype): PlannedTensor[] {
  const kv = (s.hidden / s.heads) * s.kvHeads;
  const out: PlannedTensor[] = [{ name: 'model.embed_tokens.weight', dtype, shape: [s.vocab, s.hidden] }];
  for (let i = 0; i < s.layers; i++) {
    const p = `model.layers.${i}.`;
    out.push(
      { name: `${p}input_layernorm.weight`, dtype, shape: [s.hidden] },
      { name: `${p}self_attn.q_proj.weight`, dtype, shape: [s.hidden, s.hidden] },
      { name: `${p}self_attn.k_proj.weight`, dtype, shape: [kv, s.hidden] },
      { name: `${p}self_attn.v_proj.weight`, dtype, shape: [kv, s.hidden] },
      { name: `${p}self_attn.o_proj.weight`, dtype, shape: [s.hidden, s.hidden] },
      { name: `${p}post_attention_layernorm.weight`, dtype, shape: [s.hidden] },
      { name: `${p}mlp.gate_proj.weight`, dtype, shape: [s.intermediate, s.hidden] },
      { name: `${p}mlp.up_proj.weight`, dtype, shape: [s.intermediate, s.hidden] },
      { name: `${p}mlp.down_proj.weight`, dtype, shape: [s.hidden, s.intermediate] },
    );
  }
  out.push({ name: 'model.norm.weight', dtype, shape: [s.hidden] });
  if (!s.tieEmbeddings) out.push({ name: 'lm_head.weight', dtype, shape: [s.vocab, s.hidden] });
  return out;
}

export function llamaConfig(s: LlamaShape, dtype: FloatDtype): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: s.hidden,
    intermediate_size: s.intermediate,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    vocab_size: s.vocab,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: s.tieEmbeddings ?? false,
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype],
  };
}

export interface SyntheticOptions {
  dtype?: FloatDtype;
  seed?: number;
  /** 0 for the base; expert k adds its own perturbation. */
  expert?: number;
  /** Size of an expert's perturbation relative to the weights (default 0.1). */
  deltaScale?: number;
  shardSize?: number;
}

const ROWS_PER_BLOCK = 256;

/** Write a synthetic Llama-shaped checkpoint folder (config.json, a stub tokenizer, weights). */
export function writeSyntheticLlama(dir: string, shape: LlamaShape, o: SyntheticOptions = {}): void {
  const dtype = o.dtype ?? 'F16';
  const seed = o.seed ?? 0;
  const expert = o.expert ?? 0;
  const delta = o.deltaScale ?? 0.1;
  const tensors = llamaTensors(shape, dtype);
  const writer = new CheckpointWriter(dir, tensors, { shardSize: o.shardSize, overwrite: true });
  try {
    for (const t of tensors) {
      const rows = t.shape[0]!;
      const cols = t.shape.length > 1 ? t.shape[1]! : 1;
      const isNorm = t.shape.length === 1;
      const scale = isNorm ? 0.1 : 1 / Math.sqrt(cols);
      const baseKey = streamKey(seed, hashString(t.name));
      const deltaKey = streamKey(seed + 1000 * expert, hashString(t.name) ^ 0x5bd1e995);
      const size = DTYPE_SIZES[dtype];
      for (let r0 = 0; r0 < rows; r0 += ROWS_PER_BLOCK) {
        const r1 = Math.min(rows, r0 + ROWS_PER_BLOCK);
        const vals = new Float32Array((r1 - r0) * cols);
        const first = r0 * cols;
        for (let i = 0; i < vals.length; i++) {
          let v = (uniformAt(baseKey, first + i) * 2 - 1) * scale + (isNorm ? 1 : 0);
          if (expert > 0) v += (uniformAt(deltaKey, first + i) * 2 - 1) * scale * delta;
          vals[i] = v;
        }
        const bytes = new Uint8Array(vals.length * size);
        encodeFromF32(dtype, vals, bytes);
        writer.write(t.name, bytes, first * size);
      }
    }
    writer.addFile('config.json', JSON.stringify(llamaConfig(shape, dtype), null, 2) + '\n');
    writer.addFile('tokenizer_config.json', JSON.stringify({ model_max_length: 2048, tokenizer_class: 'PreTrainedTokenizerFast' }, null, 2) + '\n');
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** A base and `experts` experts under `root` (base/, expert-1/, ...). Returns their folders. */
export function writeSyntheticFamily(root: string, shape: LlamaShape, experts: number, o: Omit<SyntheticOptions, 'expert'> = {}): string[] {
  fs.mkdirSync(root, { recursive: true });
  const dirs = [path.join(root, 'base'), ...Array.from({ length: experts }, (_, i) => path.join(root, `expert-${i + 1}`))];
  dirs.forEach((d, k) => writeSyntheticLlama(d, shape, { ...o, expert: k }));
  return dirs;
}
