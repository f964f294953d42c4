// A LoRA adapter folder in PEFT's layout (adapter_config.json + adapter_model.safetensors), read
// as a set of per-tensor patches: model tensor `<module>.weight` becomes W + scale · B·A, where
// A and B are the adapter's `base_model.model.<module>.lora_A.weight` [r, in] and
// `lora_B.weight` [out, r] (embeddings: `lora_embedding_A` [r, vocab], `lora_embedding_B`
// [hidden, r], applied transposed). scale = lora_alpha / r, or lora_alpha / √r with use_rslora;
// rank_pattern / alpha_pattern override r and lora_alpha per module. fan_in_fan_out marks models
// that store weights as [in, out]: the product is applied transposed. Everything is checked
// against the model's tensor list when the plan is made, before any data is read.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { isFloatDtype } from './dtype.ts';
import { readRegularFile } from './file-checks.ts';
import { SafetensorsFile, type TensorInfo } from './safetensors-reader.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** How one model tensor is changed; plain data, so it travels to worker threads. */
export interface LoraPatch {
  /** The adapter's safetensors file. */
  file: string;
  /** Tensor names of A ([r, in]) and B ([out, r]) in that file. */
  a: string;
  b: string;
  rank: number;
  scale: number;
  /** The model stores the tensor as [in, out]: add (B·A)ᵀ. */
  transpose: boolean;
}

interface AdapterConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  fanInFanOut: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

const LINEAR_KEY = /^base_model\.model\.(.+)\.(lora_A|lora_B)\.weight$/;
const EMBEDDING_KEY = /^base_model\.model\.(.+)\.(lora_embedding_A|lora_embedding_B)$/;

/** A PEFT adapter folder, opened: which model tensors it changes and how. */
export class LoraAdapter {
  private constructor(
    readonly dir: string,
    readonly ref: string,
    private readonly weights: SafetensorsFile,
    /** Model tensor name → its patch. */
    readonly patches: Map<string, LoraPatch>,
  ) {}

  static open(dir: string, ref: string): LoraAdapter {
    const configPath = path.join(dir, ADAPTER_CONFIG);
    const weightsPath = path.join(dir, ADAPTER_WEIGHTS);
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${dir} is not a folder; give the folder holding ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`);
    const missing = [ADAPTER_CONFIG, ADAPTER_WEIGHTS].filter((f) => !fs.existsSync(path.join(dir, f)));
    if (missing.length > 0) {
      const bin = fs.existsSync(path.join(dir, 'adapter_model.bin')) ? ' (adapter_model.bin is a pickle and is not read; save the adapter with safe_serialization=True)' : '';
      fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${dir} lacks ${missing.join(' and ')}${bin}; a PEFT adapter folder holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`);
    }
    const config = readAdapterConfig(configPath, ref);
    const weights = SafetensorsFile.open(weightsPath);
    try {
      return new LoraAdapter(dir, ref, weights, patchesOf(weights, weightsPath, config, ref));
    } catch (e) {
      weights.close();
      throw e;
    }
  }

  /**
   * Checks every patch against the model's tensors (present, a float, shapes that fit) and returns
   * the patches by tensor name. `modelRef` names the model in messages.
   */
  patchesFor(tensors: ReadonlyMap<string, TensorInfo>, modelRef: string): Map<string, LoraPatch> {
    for (const [name, p] of this.patches) {
      const w = tensors.get(name);
      if (!w) {
        fail('LORA_E_TARGET', `LoRA adapter ${this.ref} changes tensor ${name}, which is not in model ${modelRef}; the adapter was trained for another architecture (or another model)`);
      }
      if (!isFloatDtype(w.dtype)) fail('LORA_E_TARGET', `LoRA adapter ${this.ref} changes tensor ${name}, which is ${w.dtype} in ${modelRef}; only F32, F16 and BF16 tensors can take a LoRA`);
      const a = this.weights.tensors.get(p.a)!.shape;
      const b = this.weights.tensors.get(p.b)!.shape;
      // B·A is [out, in] = [b[0], a[1]]; transposed for [in, out] storage.
      const want = p.transpose ? [a[1]!, b[0]!] : [b[0]!, a[1]!];
      if (w.shape.length !== 2 || w.shape[0] !== want[0] || w.shape[1] !== want[1]) {
        fail(
          'LORA_E_SHAPE',
          `LoRA adapter ${this.ref}: tensor ${name} is ${JSON.stringify(w.shape)} in ${modelRef}, but ${p.b} ${JSON.stringify(b)} · ${p.a} ${JSON.stringify(a)} gives ${JSON.stringify(want)}${p.transpose ? ' (transposed)' : ''}; the adapter does not fit this model`,
        );
      }
    }
    return this.patches;
  }

  close(): void {
    this.weights.close();
  }
}

function readAdapterConfig(p: string, ref: string): AdapterConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readRegularFile(p, 'adapter config'));
  } catch (e) {
    if ((e as { code?: string }).code) throw e;
    fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p} must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  if (o.peft_type !== undefined && o.peft_type !== 'LORA') fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p} has peft_type ${JSON.stringify(o.peft_type)}; only LORA adapters are applied`);
  if (o.use_dora === true) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p} sets use_dora; DoRA adapters are not supported — merge it into the model with PEFT first`);
  const positive = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p} must set ${k} to a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const flag = (k: string): boolean => {
    const v = o[k] ?? false;
    if (typeof v !== 'boolean') fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p}: ${k} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const pattern = (k: string): Record<string, number> => {
    const v = o[k] ?? {};
    if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'number' || !(x > 0))) {
      fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${p}: ${k} must map module names to positive numbers`);
    }
    return v as Record<string, number>;
  };
  return { r: positive('r'), alpha: positive('lora_alpha'), rslora: flag('use_rslora'), fanInFanOut: flag('fan_in_fan_out'), rankPattern: pattern('rank_pattern'), alphaPattern: pattern('alpha_pattern') };
}

/** PEFT's per-module override: the first pattern key that is the module name or a dotted suffix of it. */
function patternValue(pattern: Record<string, number>, module: string): number | undefined {
  for (const [k, v] of Object.entries(pattern)) if (module === k || module.endsWith(`.${k}`)) return v;
  return undefined;
}

function patchesOf(weights: SafetensorsFile, file: string, config: AdapterConfig, ref: string): Map<string, LoraPatch> {
  const modules = new Map<string, { a?: string; b?: string; embedding: boolean }>();
  for (const key of weights.tensors.keys()) {
    const m = LINEAR_KEY.exec(key) ?? EMBEDDING_KEY.exec(key);
    if (!m) {
      fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${file} holds tensor ${key}, which is neither base_model.model.<module>.lora_A.weight / lora_B.weight nor lora_embedding_A / lora_embedding_B; full-weight replacements (modules_to_save) and other adapter kinds are not supported`);
    }
    const [, module, kind] = m as unknown as [string, string, string];
    const entry = modules.get(module) ?? { embedding: kind.startsWith('lora_embedding') };
    if (kind.endsWith('A')) entry.a = key;
    else entry.b = key;
    modules.set(module, entry);
  }
  if (modules.size === 0) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: ${file} holds no lora_A / lora_B tensors`);
  const patches = new Map<string, LoraPatch>();
  for (const [module, e] of modules) {
    if (!e.a || !e.b) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: module ${module} has ${e.a ? 'lora_A but no lora_B' : 'lora_B but no lora_A'} in ${file}`);
    const a = weights.tensors.get(e.a)!;
    const b = weights.tensors.get(e.b)!;
    const rank = patternValue(config.rankPattern, module) ?? config.r;
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[0] !== rank || b.shape[1] !== rank) {
      fail('LORA_E_SHAPE', `LoRA adapter ${ref}: module ${module} has ${e.a} ${JSON.stringify(a.shape)} and ${e.b} ${JSON.stringify(b.shape)}, but rank r = ${rank} needs A [${rank}, in] and B [out, ${rank}]`);
    }
    if (!isFloatDtype(a.dtype) || !isFloatDtype(b.dtype)) fail('LORA_E_ADAPTER', `LoRA adapter ${ref}: module ${module}'s matrices must be F32, F16 or BF16, got ${a.dtype} and ${b.dtype}`);
    const alpha = patternValue(config.alphaPattern, module) ?? config.alpha;
    const scale = config.rslora ? alpha / Math.sqrt(rank) : alpha / rank;
    patches.set(`${module}.weight`, { file, a: e.a, b: e.b, rank, scale, transpose: e.embedding || config.fanInFanOut });
  }
  return patches;
}
