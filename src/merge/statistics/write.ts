// Writing a statistics file (layout in store.ts): Grams in float64, Fisher diagonals in float32,
// and the metadata methods read (kinds, row counts, the Fisher's global norm).
import { writeSafetensorsFile } from '../../io/safetensors-writer.ts';
import { fisherKey, gramKey, gramPlusKey, STATISTICS_FORMAT, type StatisticsKind } from './store.ts';

export interface StatisticsContent {
  /** Linear weight name → mean input Gram, row-major [in, in]. */
  grams?: Map<string, { size: number; values: Float64Array }>;
  /** RegMean++ Grams (inputs from the partially merged model), as `grams`. */
  gramsPlus?: Map<string, { size: number; values: Float64Array }>;
  /** The RegMean++ merge settings behind gramsPlus (kept in the metadata). */
  plusInfo?: Record<string, string>;
  /** Parameter name → diagonal Fisher, with the parameter's shape. */
  fishers?: Map<string, { shape: number[]; values: Float32Array }>;
  /** Calibration rows behind the Grams (tokens for an LM, examples for a classifier). */
  rows?: number;
  /** Examples behind the Fisher. */
  samples?: number;
  /** Free-form provenance (model folder, calibration file). */
  info?: Record<string, string>;
}

export function writeStatisticsFile(file: string, c: StatisticsContent): void {
  const tensors: Array<{ name: string; dtype: 'F64' | 'F32'; shape: number[]; data: Uint8Array }> = [];
  const kinds: StatisticsKind[] = [];
  if (c.grams && c.grams.size > 0) {
    kinds.push('gram');
    for (const [name, g] of c.grams) tensors.push({ name: gramKey(name), dtype: 'F64', shape: [g.size, g.size], data: new Uint8Array(g.values.buffer, g.values.byteOffset, g.values.byteLength) });
  }
  if (c.gramsPlus && c.gramsPlus.size > 0) {
    kinds.push('gram_plus');
    for (const [name, g] of c.gramsPlus) tensors.push({ name: gramPlusKey(name), dtype: 'F64', shape: [g.size, g.size], data: new Uint8Array(g.values.buffer, g.values.byteOffset, g.values.byteLength) });
  }
  let sq = 0;
  if (c.fishers && c.fishers.size > 0) {
    kinds.push('fisher');
    for (const [name, f] of c.fishers) {
      for (let k = 0; k < f.values.length; k++) sq += f.values[k]! * f.values[k]!;
      tensors.push({ name: fisherKey(name), dtype: 'F32', shape: f.shape, data: new Uint8Array(f.values.buffer, f.values.byteOffset, f.values.byteLength) });
    }
  }
  const metadata: Record<string, string> = { ...c.info, ...c.plusInfo, format: STATISTICS_FORMAT, version: '1', kinds: kinds.join(',') };
  if (c.rows !== undefined) metadata.rows = String(c.rows);
  if (c.samples !== undefined) metadata.samples = String(c.samples);
  if (kinds.includes('fisher')) metadata.fisher_norm = String(Math.sqrt(sq));
  writeSafetensorsFile(file, tensors, metadata);
}
