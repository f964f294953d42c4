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

export function loadLlamaCheckpoint(dir: string): LoadedLlama {
  const ckpt = Checkpoint.open(dir);
  try {
    const source = path.join(ckpt.dir, 'config.json');
    if (!ckpt.config) fail('IO_E_CONFIG', `${source} is missing; a Llama-family checkpoint needs its config.json`);
    const config = llamaConfigFromJson(ckpt.config.raw, source);
    checkLlamaParams(config, new Map([...ckpt.tensors].map(([n, t]) => [n, t.shape])), ckpt.path);
    const params: LlamaParams = {};
    try {
      for (const { name, shape } of llamaParameterShapes(config)) params[name] = tf.tensor(ckpt.readF32(name), shape, 'float32');
    } catch (e) {
      tf.dispose(Object.values(params));
      throw e;
    }
    return { config, params, dispose: () => tf.dispose(Object.values(params)) };
  } finally {
    ckpt.close();
  }
}
