// Summaries of checkpoints and whether several of them can be merged (same names and shapes).
import { Checkpoint } from './checkpoint.ts';

export interface CheckpointSummary {
  path: string;
  tensors: number;
  parameters: number;
  bytes: number;
  dtypes: Record<string, number>;
  layers: number;
  architecture?: string;
  shards: number;
}

export interface Differences {
  mergeable: boolean;
  /** Tensors missing from some checkpoint: name → paths lacking it. */
  missing: Array<{ tensor: string; missingFrom: string[] }>;
  shapes: Array<{ tensor: string; shapes: Record<string, number[]> }>;
  layers: Record<string, number>;
}

export function summarize(c: Checkpoint): CheckpointSummary {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  for (const t of c.tensors.values()) {
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
    parameters += t.numel;
  }
  return {
    path: c.path,
    tensors: c.tensors.size,
    parameters,
    bytes: c.totalBytes(),
    dtypes,
    layers: c.numLayers(),
    architecture: c.config?.architecture,
    shards: c.files.length,
  };
}

export function compareCheckpoints(cs: Checkpoint[]): Differences {
  const names = new Set<string>();
  for (const c of cs) for (const n of c.tensors.keys()) names.add(n);
  const missing: Differences['missing'] = [];
  const shapes: Differences['shapes'] = [];
  for (const name of [...names].sort()) {
    const lacking = cs.filter((c) => !c.tensors.has(name)).map((c) => c.path);
    if (lacking.length > 0) {
      missing.push({ tensor: name, missingFrom: lacking });
      continue;
    }
    const s = cs.map((c) => c.info(name).shape);
    if (s.some((x) => JSON.stringify(x) !== JSON.stringify(s[0]))) {
      shapes.push({ tensor: name, shapes: Object.fromEntries(cs.map((c, i) => [c.path, s[i]!])) });
    }
  }
  const layers = Object.fromEntries(cs.map((c) => [c.path, c.numLayers()]));
  const sameLayers = new Set(Object.values(layers)).size <= 1;
  return { mergeable: missing.length === 0 && shapes.length === 0 && sameLayers, missing, shapes, layers };
}
