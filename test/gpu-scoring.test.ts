// Scoring on the GPU through the synchronous facade (src/gpu/scoring-thread.ts): a worker thread
// runs tfjs' webgpu backend on the test adapter (Mesa's software rasteriser in CI) and the main
// thread blocks for each answer. Checked against the CPU path (tfjs wasm) on small shapes: the MLP's
// logits to 1e-4 relative, accuracy counts equal, cross-entropy to 1e-4 relative; the language-model
// scorers' exact match equal (half the answers are the CPU model's own greedy generations), token
// loss and entropy to 1e-4 relative. Then the failure modes: no adapter, a crashed thread, a lost
// device — each a coded error, none a hang.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accuracy } from '../evaluators/accuracy.ts';
import { crossEntropy } from '../evaluators/cross-entropy.ts';
import type { LmExample } from '../evaluators/lm.ts';
import { MergeSearchError } from '../src/errors.ts';
import { GpuScoring } from '../src/gpu/scoring-thread.ts';
import type { HostParams } from '../src/merge/host-merge.ts';
import { llamaConfigFromJson, llamaParameterShapes } from '../src/models/llama-config.ts';
import { llamaGenerate } from '../src/models/llama.ts';
import { initMlpParams, mlpLogits, mlpParameterShapes, MLP_ARCHITECTURE, type MlpConfig } from '../src/models/mlp-classifier.ts';
import { runReadsSync } from '../src/models/reads.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { lmJobValuesReads, type LmJob, type LmScoringSpec } from '../src/zoo/lm-scoring.ts';
import { rng } from './helpers/io-tmp.ts';
import { IN_CI } from './helpers/gpu.ts';

function openTestGpu(): GpuScoring | string {
  try {
    const g = GpuScoring.open('gpu');
    return g instanceof GpuScoring ? g : g.cpu;
  } catch (e) {
    return (e as Error).message;
  }
}

const opened = openTestGpu();
const SKIP = typeof opened === 'string' && !IN_CI;
if (SKIP) console.warn(`gpu-scoring.test.ts SKIPPED: ${opened as string}`);
function gpu(): GpuScoring {
  if (typeof opened === 'string') throw new Error(`no GPU adapter for the GPU tests: ${opened}`);
  return opened;
}

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return e instanceof MergeSearchError ? e.message : `not coded: ${(e as Error).message}`;
  }
  return 'no error';
}

const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(b));

beforeAll(async () => {
  await initEngine('wasm');
});

afterAll(() => {
  if (typeof opened !== 'string') opened.close();
});

describe.skipIf(SKIP)('the MLP classifier on the GPU', () => {
  const config: MlpConfig = { architecture: MLP_ARCHITECTURE, inputSize: 784, hiddenSizes: [64, 48], numClasses: 10, tasks: ['a', 'b'], layerNorm: true, head: 'cosine', logitScale: 12 };
  const rows = 300;

  function hostParams(seed: number): HostParams {
    const init = initMlpParams(config, seed);
    const out: HostParams = new Map();
    for (const { name, shape } of mlpParameterShapes(config)) out.set(name, { shape: [...shape], values: init[name]! });
    return out;
  }

  it('logits, accuracy and cross-entropy equal the CPU path (resident inputs and heads; three candidates)', () => {
    const r = rng(7);
    const tasks = config.tasks.map((task) => {
      const inputs = Float32Array.from({ length: rows * config.inputSize }, () => r());
      const labels = Uint8Array.from({ length: rows }, () => Math.floor(r() * config.numClasses));
      return { task, inputs, labels };
    });
    const scope = GpuScoring.scope();
    // The heads stay (they are the experts'); the backbone is the candidate.
    const fixed = hostParams(1);
    const heads = tasks.map(({ task }) => new Map([...fixed].filter(([n]) => n.startsWith(`heads.${task}.`))));
    for (const seed of [1, 2, 3]) {
      const backbone: HostParams = new Map([...hostParams(seed)].filter(([n]) => n.startsWith('backbone.')));
      const all: HostParams = new Map([...backbone, ...heads.flatMap((h) => [...h])]);
      const got = gpu().mlpLogits(config, backbone, tasks.map((t, i) => ({ task: t.task, inputs: t.inputs, rows, head: heads[i], key: `${scope}${t.task}` })));
      tasks.forEach((t, i) => {
        const want = tf.tidy(() => {
          const p: Record<string, tf.Tensor> = {};
          for (const [n, v] of all) p[n] = tf.tensor(v.values, v.shape);
          return mlpLogits(p, config, tf.tensor2d(t.inputs, [rows, config.inputSize]), t.task).dataSync() as Float32Array;
        });
        const g = got[i]!;
        expect(g.length).toBe(want.length);
        let worst = 0;
        let scale = 0;
        for (let j = 0; j < want.length; j++) {
          worst = Math.max(worst, Math.abs(g[j]! - want[j]!));
          scale = Math.max(scale, Math.abs(want[j]!));
        }
        expect(worst / scale).toBeLessThan(1e-4);
        expect(accuracy(g, t.labels, config.numClasses) * rows).toBe(accuracy(want, t.labels, config.numClasses) * rows);
        expect(relErr(crossEntropy(g, t.labels, config.numClasses), crossEntropy(want, t.labels, config.numClasses))).toBeLessThan(1e-4);
      });
    }
    gpu().drop(scope);
  });
});

describe.skipIf(SKIP)('the Llama scorers on the GPU', () => {
  const raw = { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 40, rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 64 };
  const config = llamaConfigFromJson(raw, 'test config');

  it('exact match, token loss and prompt entropy equal the CPU path (examples kept on the GPU; two candidates)', () => {
    const scope = GpuScoring.scope();
    const model = (seed: number) => {
      const r = rng(seed);
      const host: HostParams = new Map();
      for (const { name, shape } of llamaParameterShapes(config)) {
        const size = shape.reduce((a, b) => a * b, 1);
        const values = Float32Array.from({ length: size }, () => {
          const u = 2 * r() - 1;
          return shape.length === 2 ? (1.7 * u) / Math.sqrt(shape[1]!) : name.endsWith('norm.weight') ? 1 + 0.2 * u : 0.2 * u;
        });
        host.set(name, { shape: [...shape], values });
      }
      const params: Record<string, tf.Tensor> = {};
      for (const [n, t] of host) params[n] = tf.tensor(t.values, t.shape);
      return { host, params };
    };
    // Prompts of 2..7 tokens. The stop token is the one the first candidate generates most often
    // after its first step; every other example's answer is that candidate's greedy generation up to
    // it (so its exact match is not 0), the others a random pair of tokens. The examples are fixed
    // (kept on the GPU) and scored for both candidates.
    const p = rng(5);
    const prompts = Array.from({ length: 10 }, () => Array.from({ length: 2 + Math.floor(p() * 6) }, () => 1 + Math.floor(p() * 38)));
    const first = model(11);
    const own = llamaGenerate(first.params, config, prompts, 6, { eos: [] });
    const counts = new Map<number, number>();
    for (const g of own) for (const t of g.slice(1)) counts.set(t, (counts.get(t) ?? 0) + 1);
    const stop = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const examples: LmExample[] = prompts.map((prompt, i) => {
      const at = own[i]!.indexOf(stop, 1);
      return { prompt, answer: i % 2 === 0 && at > 0 ? own[i]!.slice(0, at) : [1 + Math.floor(p() * 38), 1 + Math.floor(p() * 38)] };
    });
    const spec: LmScoringSpec = { config, stop: [stop], eos: stop };
    const jobs: LmJob[] = [
      { key: 'x/em', scorer: 'exact_match', examples: examples.slice(0, 6) },
      { key: 'y/em', scorer: 'exact_match', examples: examples.slice(6) },
      { key: 'x/loss', scorer: 'token_loss', examples },
      { key: 'x/entropy', scorer: 'prompt_entropy', examples },
    ];
    for (const [i, { host, params }] of [first, model(12)].entries()) {
      const want = runReadsSync(lmJobValuesReads(params, spec, jobs));
      const got = gpu().lmJobValues(spec, host, jobs, scope);
      tf.dispose(Object.values(params));
      expect(got[0]! * 6).toBe(want[0]! * 6);
      expect(got[1]! * 4).toBe(want[1]! * 4);
      if (i === 0) expect(want[0]! + want[1]!).toBeGreaterThan(0);
      expect(relErr(got[2]!, want[2]!)).toBeLessThan(1e-4);
      expect(relErr(got[3]!, want[3]!)).toBeLessThan(1e-4);
    }
    gpu().drop(scope);
  });
});

describe('failure modes', () => {
  it('no adapter under gpu is GPU_E_NO_ADAPTER; under auto the CPU scores, with the reason', () => {
    expect(codeOf(() => GpuScoring.open('gpu', { backends: ['d3d12'] }))).toMatch(/^GPU_E_NO_ADAPTER: --device gpu: no WebGPU adapter/);
    const auto = GpuScoring.open('auto', { backends: ['d3d12'], probeWithoutDeviceNodes: true });
    expect(auto).toEqual({ cpu: expect.stringMatching(/no GPU adapter/) });
  });

  it.skipIf(SKIP)('a lost device fails the next request with GPU_E_DEVICE_LOST', () => {
    const g = GpuScoring.open('gpu') as GpuScoring;
    try {
      g.simulate('lose');
      const cfg: MlpConfig = { architecture: MLP_ARCHITECTURE, inputSize: 4, hiddenSizes: [3], numClasses: 2, tasks: ['a'], layerNorm: false, head: 'linear', logitScale: 1 };
      const init = initMlpParams(cfg, 1);
      const params: HostParams = new Map(mlpParameterShapes(cfg).map(({ name, shape }) => [name, { shape: [...shape], values: init[name]! }]));
      expect(codeOf(() => g.mlpLogits(cfg, params, [{ task: 'a', inputs: new Float32Array(8), rows: 2 }]))).toMatch(/^GPU_E_DEVICE_LOST: the GPU device .* was lost while scoring/);
    } finally {
      g.close();
    }
  });

  it.skipIf(SKIP)('a request with no answer within the timeout is GPU_E_WORKER (injected clock), and the thread is closed', () => {
    let t = 0;
    let running = false;
    // The clock stands still while the thread opens; then every reading is a minute later.
    const g = GpuScoring.open('gpu', { answerTimeoutMs: 30_000, now: () => (running ? (t += 60_000) : t) }) as GpuScoring;
    running = true;
    expect(codeOf(() => g.simulate('hang'))).toMatch(/^GPU_E_WORKER: the GPU scoring thread gave no answer in 30 s/);
    expect(codeOf(() => g.simulate('lose'))).toMatch(/^GPU_E_WORKER: the GPU scoring thread is closed/);
  });

  it.skipIf(SKIP)('a crashed thread fails the waiting call with GPU_E_WORKER at once, and every later call', () => {
    const g = GpuScoring.open('gpu') as GpuScoring;
    g.simulate('crash');
    const spec: LmScoringSpec = { config: llamaConfigFromJson({ architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 8 }, 'c'), stop: [0], eos: 0 };
    const call = () => g.lmJobValues(spec, new Map(), [{ key: 'k', scorer: 'token_loss', examples: [{ prompt: [1], answer: [2] }] }]);
    expect(codeOf(call)).toMatch(/^GPU_E_WORKER: the GPU scoring thread exited \(status 3\); nothing was scored/);
    expect(codeOf(call)).toMatch(/^GPU_E_WORKER: the GPU scoring thread is closed/);
  });
});
