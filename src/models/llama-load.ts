// Load a Llama-family checkpoint folder (config.json + safetensors, any float dtype) into float32
// tfjs tensors, with the config validated and the tensors checked against it before any is read.
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { fail } from '../errors.ts';
import { Checkpoint } from '../io/checkpoint.ts';
import { checkLlamaParams, llamaConfigFromJson, llamaParameterShapes, type LlamaConfig } from './llama-config.ts';
import type { LlamaParams } from './llama.ts';

export interface LoadedLlama {
  config: LlamaConfig;
  /** Exactly the tensors the config needs (extras in the checkpoint are not read). */
  params: LlamaParams;
  dispose(): void;
}

/**
 * Open a Llama-family checkpoint folder, validate its config.json and check every tensor the config
 * needs against it (names and shapes) before any is read; then hand each of those tensors, as
 * float32, to `take`. Extra tensors in the checkpoint are not read.
 */
export function readLlamaCheckpoint(dir: string, take: (name: string, shape: number[], values: Float32Array) => void): LlamaConfig {
  const ckpt = Checkpoint.open(dir);
  try {
    const source = path.join(ckpt.dir, 'config.json');
    if (!ckpt.config) fail('IO_E_CONFIG', `${source} is missing; a Llama-family checkpoint needs its config.json`);
    const config = llamaConfigFromJson(ckpt.config.raw, source);
    checkLlamaParams(config, new Map([...ckpt.tensors].map(([n, t]) => [n, t.shape])), ckpt.path);
    for (const { name, shape } of llamaParameterShapes(config)) take(name, [...shape], ckpt.readF32(name));
    return config;
  } finally {
    ckpt.close();
  }
}

/** A Llama-family checkpoint as float32 tfjs tensors. */
export function loadLlamaCheckpoint(dir: string): LoadedLlama {
  const params: LlamaParams = {};
  try {
    const config = readLlamaCheckpoint(dir, (name, shape, values) => (params[name] = tf.tensor(values, shape, 'float32')));
    return { config, params, dispose: () => tf.dispose(Object.values(params)) };
  } catch (e) {
    tf.dispose(Object.values(params));
    throw e;
  }
}

/** A Llama-family checkpoint as host float32 arrays by tensor name (for merging in memory). */
export function loadLlamaHost(dir: string): { config: LlamaConfig; params: Map<string, { shape: number[]; values: Float32Array }> } {
  const params = new Map<string, { shape: number[]; values: Float32Array }>();
  const config = readLlamaCheckpoint(dir, (name, shape, values) => params.set(name, { shape, values }));
  return { config, params };
}
