// The messages between the GPU scoring facade (scoring-thread.ts, main thread) and its worker
// (scoring-worker.ts). Float32Arrays travel by structured clone; resident tensors are named by key.
import type { MlpConfig } from '../models/mlp-classifier.ts';
import type { LmJob, LmScoringSpec } from '../zoo/lm-scoring.ts';
import type { StudyConfig } from '../search/study-config.ts';
import type { AdapterDescription } from './device.ts';

/** What the gradient thread builds a zoo study's differentiable problem from (as ZooProblem does). */
export type GradientStudy = Pick<StudyConfig, 'space' | 'objectives' | 'samples' | 'seed' | 'name' | 'experts'>;
export type GradientMethod = 'coordinate' | 'vertex' | 'entropyAndGrad' | 'alignment';

export interface WireTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** One task's rows through the MLP: inputs (a resident tensor's key), with these tensors added to the candidate's (a task head). */
export interface MlpRun {
  task: string;
  inputs: string;
  /** [name in the model, resident key] */
  extra: [string, string][];
}

/** A language-model job; `examples` omitted when the worker holds them under `resident`. */
export interface WireLmJob {
  scorer: LmJob['scorer'];
  key: string;
  resident?: string;
  examples?: LmJob['examples'];
}

export type ScoringRequest =
  | { op: 'open'; choice: 'auto' | 'gpu'; backends?: string[]; probeWithoutDeviceNodes?: boolean }
  | { op: 'put'; key: string; tensor: WireTensor }
  | { op: 'drop'; prefix: string }
  | { op: 'mlp'; config: MlpConfig; params: WireTensor[]; runs: MlpRun[] }
  | { op: 'lm'; spec: LmScoringSpec; params: WireTensor[]; jobs: WireLmJob[] }
  | { op: 'grad-open'; id: number; dir: string; study: GradientStudy; source: string }
  | { op: 'grad'; id: number; method: GradientMethod; args: unknown[] }
  | { op: 'grad-close'; id: number }
  /** Tests: the thread exits at once (a crash), or its device is destroyed (a lost device). */
  | { op: 'crash' }
  | { op: 'lose' }
  /** Tests: a request that is never answered (a hung driver). */
  | { op: 'hang' };

export type ScoringAnswer =
  | { ok: true; adapter?: AdapterDescription; cpu?: string; logits?: Float32Array[]; values?: number[]; result?: unknown }
  | { ok: false; error: { message: string; code?: string; stack?: string } };
