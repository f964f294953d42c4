// `--device` for the verbs that score models (search, eval, zoo build): scoring has no GPU path yet.
// tfjs' webgpu backend does run on Dawn in Node (matmul and gradients checked on the software
// adapter), but the scorers read results synchronously (dataSync), which that backend implements
// only through OffscreenCanvas, absent from Node. So `gpu` is refused with a coded error saying what
// runs on the GPU, and `auto` scores on the CPU with a note; nothing runs on the CPU silently.
import { fail } from '../errors.ts';
import type { DeviceChoice } from './device.ts';

export interface ScoringDevice {
  choice: DeviceChoice;
  /** One line for the log and the study: `cpu` or `cpu (why not the GPU)`. */
  line: string;
}

export const SCORING_ON_CPU = 'scoring on the GPU is not supported yet (only merges run there); scoring on the CPU';

export function scoringDevice(choice: DeviceChoice, verb: string): ScoringDevice {
  if (choice === 'cpu') return { choice, line: 'cpu' };
  if (choice === 'auto') return { choice, line: `cpu (${SCORING_ON_CPU})` };
  fail(
    'GPU_E_SCORING',
    `${verb} --device gpu: scoring models on the GPU is not supported yet — the scorers read tfjs results synchronously, which tfjs' webgpu backend cannot do in Node. ` +
      'On the GPU today: merge --device gpu and export --device gpu (the merge kernels). Use --device cpu or auto here',
  );
}
