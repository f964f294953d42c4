// Data-informed statistics of one expert (input Gram matrices of its linear layers, diagonal
// Fisher of its parameters) as a safetensors file, and how merge methods find and read them.
//
// File layout (written by `mergesearch stats`, src/merge/statistics/produce.ts):
//   gram:<weight name>    F64 [in, in]   mean of xᵀx over the calibration rows x that enter the
//                                        linear layer whose weight (HF layout [out, in]) is named
//   fisher:<param name>   F32 <shape of the parameter>  mean squared gradient (diagonal Fisher)
//   gram_plus:<weight>    F64 [in, in]   as gram:, but the layer's inputs come from the model whose
//                                        earlier layers are already merged (RegMean++; zoos only)
//   __metadata__: format=mergesearch-statistics, version=1, kinds=gram,fisher (those present),
//                 rows (calibration rows behind the Grams), samples (examples behind the Fisher),
//                 fisher_norm (L2 norm over every fisher: tensor, for normalised Fisher merging),
//                 model, calibration (where they came from).
// Grams are kept in float64: they are sums of many products and RegMean solves with them.
//
// Where a method looks for a model's file: the model's `statistics` parameter when set (a path;
// recipes resolve it against the recipe's folder), else `merge_statistics.safetensors` inside the
// model's folder (what `mergesearch stats` writes by default and `mergesearch stats --zoo` writes
// beside each expert). Files are opened once per thread and kept open.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../../errors.ts';
import { SafetensorsFile } from '../../io/safetensors-reader.ts';
import type { TensorContext } from '../method.ts';

export const STATISTICS_FILE = 'merge_statistics.safetensors';
export const STATISTICS_FORMAT = 'mergesearch-statistics';
export type StatisticsKind = 'gram' | 'fisher' | 'gram_plus';
export const STATISTICS_KINDS: readonly StatisticsKind[] = ['gram', 'fisher', 'gram_plus'];

export const gramKey = (weight: string) => `gram:${weight}`;
/** RegMean++ Grams: inputs taken from the partially merged model (src/stats/regmean-plus.ts). */
export const gramPlusKey = (weight: string) => `gram_plus:${weight}`;
export const fisherKey = (param: string) => `fisher:${param}`;

/** The parameter that names a model's statistics file (per model, in recipes and in memory). */
export const STATISTICS_PARAM = {
  name: 'statistics',
  kind: 'string' as const,
  required: false,
  doc: `path of this model's statistics file (from \`mergesearch stats\`); default: ${STATISTICS_FILE} in the model's folder`,
};

/** The file a method should read for input model `i`, or undefined when nothing says where. */
export function statisticsPath(ctx: TensorContext, i: number): string | undefined {
  const own = ctx.perModel[i]?.statistics;
  if (typeof own === 'string' && own !== '') return own;
  const dir = ctx.modelPaths?.[i];
  if (dir === undefined) return undefined;
  return fs.existsSync(dir) && fs.statSync(dir).isFile() ? path.join(path.dirname(dir), STATISTICS_FILE) : path.join(dir, STATISTICS_FILE);
}

interface OpenStats {
  file: SafetensorsFile;
  mtimeMs: number;
  size: number;
  kinds: Set<string>;
  fisherNorm?: number;
}

const open = new Map<string, OpenStats>();

function produceHint(model: string, kind: StatisticsKind): string {
  if (kind === 'gram_plus') return `produce it for a zoo's experts with \`npx mergesearch stats --zoo DIR --kind gram_plus\` (RegMean++ statistics depend on every expert), or name an existing file with \`parameters: {statistics: PATH}\` on that model`;
  return `produce it with \`npx mergesearch stats ${model} --data CALIBRATION.safetensors --kind ${kind}\` (for a zoo: \`npx mergesearch stats --zoo DIR --kind ${kind}\`), or name an existing file with \`parameters: {statistics: PATH}\` on that model`;
}

/**
 * The open statistics file of input model `i`, checked to hold `kind`; a coded error naming the
 * file to produce and the command that produces it when there is none.
 */
export function modelStatistics(ctx: TensorContext, i: number, kind: StatisticsKind, method: string): OpenStats {
  const model = ctx.modelRefs?.[i] ?? ctx.modelPaths?.[i] ?? `model ${i + 1}`;
  const file = statisticsPath(ctx, i);
  if (file === undefined) {
    fail('STATS_E_MISSING', `${method} needs ${kind} statistics for ${model}, and neither a \`statistics\` parameter nor the model's folder says where they are; ${produceHint(model, kind)}`);
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file);
  } catch {
    st = undefined;
  }
  if (!st || !st.isFile()) fail('STATS_E_MISSING', `${method} needs ${kind} statistics for ${model}, but ${file} does not exist; ${produceHint(model, kind)}`);
  let s = open.get(file);
  if (s && (s.mtimeMs !== st.mtimeMs || s.size !== st.size)) {
    s.file.close();
    open.delete(file);
    s = undefined;
  }
  if (!s) {
    const f = SafetensorsFile.open(file);
    if (f.metadata.format !== STATISTICS_FORMAT) {
      f.close();
      fail('STATS_E_FORMAT', `${file} is not a statistics file (its metadata format is ${JSON.stringify(f.metadata.format)}, not ${STATISTICS_FORMAT}); ${produceHint(model, kind)}`);
    }
    const norm = Number(f.metadata.fisher_norm);
    s = { file: f, mtimeMs: st.mtimeMs, size: st.size, kinds: new Set((f.metadata.kinds ?? '').split(',').filter(Boolean)), fisherNorm: Number.isFinite(norm) ? norm : undefined };
    open.set(file, s);
  }
  if (!s.kinds.has(kind)) fail('STATS_E_MISSING', `${method} needs ${kind} statistics for ${model}, but ${file} holds only ${[...s.kinds].join(', ') || 'nothing'}; ${produceHint(model, kind)}`);
  return s;
}

/** Input Gram [in, in] of linear weight `weight`, or undefined when the file has none for it. */
export function readGram(s: OpenStats, weight: string, inFeatures: number, key: (weight: string) => string = gramKey): Float64Array | undefined {
  const name = key(weight);
  const info = s.file.tensors.get(name);
  if (!info) return undefined;
  if (info.dtype !== 'F64' || info.shape.length !== 2 || info.shape[0] !== inFeatures || info.shape[1] !== inFeatures) {
    fail('STATS_E_FORMAT', `${s.file.path}: ${name} is ${info.dtype} ${JSON.stringify(info.shape)}, but the weight has ${inFeatures} inputs, so an F64 [${inFeatures}, ${inFeatures}] Gram is needed; the statistics belong to another model — produce them again`);
  }
  const raw = s.file.readRaw(name);
  return new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

/** Rows [rowStart, rowEnd) of the Fisher diagonal of `param` (cols per row), or undefined. */
export function readFisherRows(s: OpenStats, param: string, shape: number[], rowStart: number, rowEnd: number): Float32Array | undefined {
  const info = s.file.tensors.get(fisherKey(param));
  if (!info) return undefined;
  if (info.shape.length !== shape.length || info.shape.some((d, k) => d !== shape[k])) {
    fail('STATS_E_FORMAT', `${s.file.path}: ${fisherKey(param)} is ${JSON.stringify(info.shape)} but the parameter is ${JSON.stringify(shape)}; the statistics belong to another model — produce them again`);
  }
  return shape.length === 0 ? s.file.readF32(fisherKey(param)) : s.file.readF32(fisherKey(param), rowStart, rowEnd);
}

/** L2 norm over every Fisher tensor of the file (from its metadata, else computed once). */
export function fisherNorm(s: OpenStats): number {
  if (s.fisherNorm === undefined) {
    let sq = 0;
    for (const name of s.file.tensors.keys()) {
      if (!name.startsWith('fisher:')) continue;
      const v = s.file.readF32(name);
      for (let k = 0; k < v.length; k++) sq += v[k]! * v[k]!;
    }
    s.fisherNorm = Math.sqrt(sq);
  }
  return s.fisherNorm;
}

/** Close every cached statistics file (tests that rewrite files in place). */
export function closeStatistics(): void {
  for (const s of open.values()) s.file.close();
  open.clear();
}
