// `--device` for the verbs that score models (search, eval, zoo build). Scoring on the GPU runs in
// a worker thread behind a synchronous facade (scoring-thread.ts): the forward passes of both model
// families (the MLP classifier, the Llama scorers) on tfjs' webgpu backend over Dawn, so every
// black-box optimizer (random, grid, cmaes, nsga2, map, ...) and `eval` score there, and the
// gradient optimizers (adamerging, frank_wolfe) take their loss-and-gradient steps there (tfjs
// autograd on the thread). Zoo training keeps the CPU: under `gpu` it is refused with
// GPU_E_SCORING (never a silent CPU run), under `auto` it runs on the CPU with a note.
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

/** What runs on the GPU, for messages. */
export const GPU_SCORING_RUNS = 'scoring of zoo studies for every optimizer (forward passes of mnist8 MLPs and Llama LMs; the gradient steps of adamerging and frank_wolfe) and eval; merges through merge/export --device gpu';

export interface ScoringDeviceOptions extends GpuScoringOptions {
  /** The verb trains models (zoo build): training has no GPU path. */
  trains?: boolean;
  /** A command evaluator scores (a checkpoint study): --device does not apply. */
  external?: boolean;
}

const cpuOnly = (choice: DeviceChoice, line: string): ScoringDevice => ({ choice, line, close() {} });

export function scoringDevice(choice: DeviceChoice, verb: string, o: ScoringDeviceOptions = {}): ScoringDevice {
  if (choice === 'cpu') return cpuOnly(choice, 'cpu');
  if (o.external) return cpuOnly(choice, "none (the study's command evaluator scores the checkpoints; --device applies to zoo studies)");
  const noGpuPath = o.trains ? `${verb} trains models, which runs on the CPU only` : undefined;
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
