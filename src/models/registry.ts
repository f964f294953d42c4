// Model families by the architecture name in config.json's `architectures[0]`: how to read a
// config, which tensors (names and shapes) the model needs, and how to check a checkpoint has them.
import { fail } from '../errors.ts';
import { checkLlamaParams, LLAMA_ARCHITECTURES, llamaConfigFromJson, llamaParameterShapes, type LlamaConfig } from './llama-config.ts';
import { checkMlpParams, MLP_ARCHITECTURE, mlpConfigFromJson, mlpParameterShapes, type MlpConfig, type ParamShape } from './mlp-classifier.ts';

export type { ParamShape } from './mlp-classifier.ts';

/** A model family; `C` is its parsed config, which callers pass back opaquely. */
export interface ModelFamily<C = unknown> {
  readonly architecture: string;
  /** Validate a config.json object; errors (IO_E_CONFIG) name `source` and the key. */
  parseConfig(raw: unknown, source: string): C;
  /** Every tensor the model needs, in order. */
  parameterShapes(config: C): ParamShape[];
  /** Missing tensor (IO_E_NO_TENSOR) or wrong shape (MERGE_E_SHAPE) → error naming the tensor. */
  checkParams(config: C, shapes: Map<string, readonly number[]>, source?: string): void;
}

const mlpFamily: ModelFamily<MlpConfig> = {
  architecture: MLP_ARCHITECTURE,
  parseConfig: mlpConfigFromJson,
  parameterShapes: mlpParameterShapes,
  checkParams: checkMlpParams,
};

// The Llama-family decoders share one config parser (which knows their differences: Qwen2's q/k/v
// biases, Llama's attention_bias and mlp_bias, Mistral's sliding window); one entry per class name.
const llamaFamilies = Object.fromEntries(
  LLAMA_ARCHITECTURES.map((architecture): [string, ModelFamily] => [
    architecture,
    {
      architecture,
      parseConfig: llamaConfigFromJson,
      parameterShapes: llamaParameterShapes,
      checkParams: checkLlamaParams,
    } satisfies ModelFamily<LlamaConfig> as ModelFamily,
  ]),
);

export const MODEL_FAMILIES: Readonly<Record<string, ModelFamily>> = {
  [MLP_ARCHITECTURE]: mlpFamily as ModelFamily,
  ...llamaFamilies,
};

/** The family of a config.json object, from `architectures[0]`; `source` names the file. */
export function modelFamilyOf(configJson: unknown, source: string): ModelFamily {
  const known = Object.keys(MODEL_FAMILIES).join(', ');
  const archs = typeof configJson === 'object' && configJson !== null ? (configJson as Record<string, unknown>).architectures : undefined;
  const name = Array.isArray(archs) ? archs[0] : undefined;
  if (typeof name !== 'string') {
    fail('IO_E_CONFIG', `${source}: key "architectures" must be a list whose first entry names the model class (known: ${known})`);
  }
  const family = Object.hasOwn(MODEL_FAMILIES, name) ? MODEL_FAMILIES[name] : undefined;
  if (!family) fail('IO_E_CONFIG', `${source}: architecture "${name}" is not supported; known architectures: ${known}`);
  return family;
}
