// `--device` for the verbs that score models (search, eval, zoo build). Scoring on the GPU runs in
// a worker thread behind a synchronous facade (scoring-thread.ts): the forward passes of both model
// families (the MLP classifier, the Llama scorers) on tfjs' webgpu backend over Dawn, so every
// black-box optimizer (random, grid, cmaes, nsga2, map, ...) and `eval` score there. The gradient
// optimizers (adamerging, frank_wolfe) and zoo training keep the CPU: under `gpu` they are refused
// with GPU_E_SCORING (never a silent CPU run), under `auto` they run on the CPU with a note.
import { fail } from '../errors.ts';
import { gpuDeviceNodes, type DeviceChoice } from './device.ts';
import { GpuScoring, type GpuScoringOptions } from './scoring-thread.ts';

export interface ScoringDevice {
  choice: DeviceChoice;
  /** One line for the log and the study: `gpu: <adapter> (...)`, `cpu`, or `cpu (why not the GPU)`. */
  line: string;
  /** The GPU scorer, when scoring runs on the GPU. */
  gpu?: GpuScoring;
  /** Stop the GPU scoring thread (if any). */
  close(): void;
}

/** The optimizers whose scoring runs on the GPU (every one that does not follow gradients). */
export const GPU_SCORING_RUNS = 'forward scoring of both model families (mnist8 MLPs and Llama LMs: accuracy, cross-entropy, entropy, exact match, token loss, perplexity) for the black-box optimizers (random, grid, cmaes, nsga2, map and the other non-gradient ones) and eval; merges run there through merge/export --device gpu';

export interface ScoringDeviceOptions extends GpuScoringOptions {
  /** The study's optimizer when it follows gradients (adamerging, frank_wolfe): it has no GPU path. */
  gradientOptimizer?: string;
  /** The verb trains models (zoo build): training has no GPU path. */
  trains?: boolean;
  /** A command evaluator scores (a checkpoint study): --device does not apply. */
  external?: boolean;
}

const cpuOnly = (choice: DeviceChoice, line: string): ScoringDevice => ({ choice, line, close() {} });

export function scoringDevice(choice: DeviceChoice, verb: string, o: ScoringDeviceOptions = {}): ScoringDevice {
  if (choice === 'cpu') return cpuOnly(choice, 'cpu');
  if (o.external) return cpuOnly(choice, "none (the study's command evaluator scores the checkpoints; --device applies to zoo studies)");
  const noGpuPath = o.trains ? `${verb} trains models, which runs on the CPU only` : o.gradientOptimizer ? `the optimizer ${o.gradientOptimizer} follows gradients, which run on the CPU only` : undefined;
  if (noGpuPath !== undefined) {
    if (choice === 'auto') return cpuOnly(choice, `cpu (${noGpuPath})`);
    fail('GPU_E_SCORING', `${verb} --device gpu: ${noGpuPath}. On the GPU: ${GPU_SCORING_RUNS}. Use --device cpu or auto here`);
  }
  if (choice === 'auto' && !o.probeWithoutDeviceNodes && process.platform === 'linux' && gpuDeviceNodes().length === 0) {
    // No GPU driver is loaded: Dawn could only offer a software adapter, which auto never takes;
    // no need to start the scoring thread to learn that.
    return cpuOnly(choice, 'cpu (no GPU device: no /dev/nvidia*, /dev/dri/renderD*, /dev/kfd)');
  }
  const g = GpuScoring.open(choice, o);
  if (!(g instanceof GpuScoring)) return cpuOnly(choice, `cpu (${g.cpu.replace(/; merging on the CPU.*$/, '')}; scoring on the CPU)`);
  return { choice, line: g.line, gpu: g, close: () => g.close() };
}
