// Every error a user can cause, with a stable code. Messages name the file, tensor or key
// at fault and say what to do; the code lets scripts and tests match on the kind of failure.

export const ErrorCodes = {
  // checkpoint I/O
  IO_E_NOT_FOUND: 'a file or folder does not exist',
  IO_E_READ: 'a file exists but cannot be read',
  IO_E_NOT_REGULAR: 'an input path is a FIFO, device or socket, not a regular file or folder',
  IO_E_LINK_LOOP: 'an input path is a symbolic link loop',
  IO_E_TRUNCATED: 'a file ends before its header says it should',
  IO_E_HEADER: 'a safetensors header is malformed',
  IO_E_DTYPE: 'a tensor has a dtype this tool does not know',
  IO_E_OFFSETS: 'tensor data offsets are out of range, overlapping or inconsistent with the shape',
  IO_E_INDEX: 'a sharded checkpoint index is malformed or names missing files',
  IO_E_NO_TENSOR: 'a requested tensor is not in the checkpoint',
  IO_E_CONFIG: 'config.json cannot be parsed',
  IO_E_WRITE: 'writing the output failed',
  IO_E_OUTPUT_EXISTS: 'the output folder exists and is not empty',
  // recipes
  RECIPE_E_PARSE: 'the recipe is not valid YAML',
  RECIPE_E_FIELD: 'the recipe has an unknown, missing or ill-typed field',
  RECIPE_E_METHOD: 'unknown merge method',
  RECIPE_E_PARAM: 'unknown, missing or out-of-range merge parameter',
  RECIPE_E_MODEL: 'a model named in the recipe cannot be used',
  RECIPE_E_SLICE: 'a slice\'s layer_range is malformed, out of range, or its sources differ in length',
  RECIPE_E_DOCUMENT: 'a document of a multi-document recipe has no or a repeated name, or names an unknown or circular model',
  LORA_E_ADAPTER: 'a LoRA adapter folder is missing, lacks adapter_config.json or adapter_model.safetensors, or holds malformed settings or tensors',
  LORA_E_TARGET: 'a LoRA adapter changes a tensor the model does not have (or one that is not a float)',
  LORA_E_SHAPE: 'a LoRA adapter\'s matrices do not fit its rank or the tensor they change',
  TOKENIZER_E_VOCAB: 'a tokenizer file cannot be read, a model lacks one the merged vocabulary needs, or a tokens: entry names a row that does not exist',
  // merge planning and execution
  MERGE_E_MISSING_TENSOR: 'a tensor is present in one model and not another',
  MERGE_E_SHAPE: 'a tensor has different shapes in different models',
  MERGE_E_DTYPE: 'a tensor is a float in one model and not in another',
  MERGE_E_OUTPUT: 'the output folder would overwrite an input',
  MERGE_E_LAYERS: 'the models have different layer counts',
  MERGE_E_MODEL_COUNT: 'the method needs a different number of models',
  MERGE_E_NONFINITE: 'a merge produced NaN or Inf',
  // tensor engine
  ENGINE_E_BACKEND: 'the requested tfjs backend is unknown or cannot start',
  ENGINE_E_MEMORY: 'tensors would exceed the wasm backend\'s safe heap size',
  ENGINE_E_KERNELS: 'MERGESEARCH_KERNELS names no kernel backend (wasm or js)',
  ENGINE_E_WORKER: 'a worker thread stopped answering',
  // GPU merge kernels (--device gpu, through WebGPU/Dawn)
  GPU_E_NO_ADAPTER: '--device gpu found no WebGPU adapter, or the adapter would not open a device',
  GPU_E_OUT_OF_MEMORY: 'the GPU cannot hold the buffers a merge needs',
  GPU_E_DEVICE_LOST: 'the GPU device was lost during a merge or scoring (no output is kept)',
  GPU_E_WORKER: 'the GPU scoring thread crashed or stopped answering',
  GPU_E_METHOD: 'the merge method (or one of its settings) has no GPU kernel',
  GPU_E_SCORING: 'this verb has no GPU path (zoo build trains on the CPU only; --device gpu)',
  // models
  MODEL_E_PARAMS: 'an input or task does not fit the model config (unknown task, wrong input width)',
  // evaluators
  EVAL_E_COMMAND: 'an evaluator command failed to start, exited non-zero or was killed',
  EVAL_E_TIMEOUT: 'an evaluator command ran past its timeout and was killed',
  EVAL_E_OUTPUT: 'an evaluator command printed no JSON object with numeric scores',
  EVAL_E_UNKNOWN: 'unknown evaluator name',
  EVAL_E_PATH: 'a checkpoint path the evaluator cannot be given (lm_eval splits --model_args at commas)',
  // study store (SQLite or PostgreSQL)
  STUDY_E_OPEN: 'the study database cannot be opened (not SQLite, corrupt, or unreadable)',
  STUDY_E_URL: 'the --db value is neither a file path nor a postgres:// URL (unknown scheme, no host)',
  STUDY_E_CONNECT: 'the PostgreSQL server cannot be reached, refused the login, or has no such database',
  STUDY_E_VERSION: 'the study database was written by a newer mergesearch',
  STUDY_E_NOT_FOUND: 'no study with that name or trial with that number',
  STUDY_E_EXISTS: 'a study with that name exists already (use --resume, or another name)',
  STUDY_E_BUSY: 'the study is being run by another live process',
  STUDY_E_WRITE: 'writing to the study database failed (disk full, read-only)',
  // study configs and the search loop
  CONFIG_E_PARSE: 'the study config is not valid YAML',
  CONFIG_E_FIELD: 'the study config has an unknown, missing or ill-typed field',
  SEARCH_E_OPTIMIZER: 'unknown optimizer, or settings it does not accept',
  SEARCH_E_SPACE: 'the search space cannot be built (no coefficients, bad bounds, unmatched filters)',
  SEARCH_E_NONFINITE: 'a candidate produced NaN or Inf',
  // CLI
  CLI_E_ARG: 'a command-line argument is invalid',
  // report server (mergesearch serve)
  SERVER_E_TOKEN: 'serve was asked to listen beyond this machine without --token',
  SERVER_E_AUTH: 'an API request lacks the bearer token, or names a host the server does not answer',
  SERVER_E_PATH: 'an output path given to the API leaves the output root (.., absolute, symlink)',
  SERVER_E_REQUEST: 'an API request is malformed (schema, JSON, body size)',
  SERVER_E_NOT_FOUND: 'no such API route or launch',
  SERVER_E_LAUNCH: 'a study launch cannot start (name in use, process failed to spawn)',
  SERVER_E_COMMAND: 'a launched config scores with a shell command, and serve was not started with --allow-command-launch',
  SERVER_E_LISTEN: 'serve cannot listen on the address given (unknown host name, port in use, no permission)',
  SERVER_E_INTERNAL: 'an unexpected server error (details in the server log)',
  // data-informed merge statistics (mergesearch stats; regmean, fisher)
  STATS_E_MISSING: 'a merge method needs statistics (Gram matrices, Fisher diagonals) that no file provides',
  STATS_E_FORMAT: 'a statistics file is not one, or does not fit the model it is used with',
  STATS_E_INPUT: 'statistics cannot be computed: the model or calibration data do not fit',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class MergeSearchError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'MergeSearchError';
    this.code = code;
  }
}

export function fail(code: ErrorCode, message: string): never {
  throw new MergeSearchError(code, message);
}
