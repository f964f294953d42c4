// Layer swapping as a search space (Bandarkar et al., "Layer Swapping for Zero-Shot Cross-Lingual
// Transfer in Large Language Models"): the layers are cut into blocks of `block_size` layers, and
// each block is supplied whole by one expert; optionally the layers next to a seam between two
// experts are blended linearly over `blend` layers on each side.
//
// Coordinates (what black-box optimizers see): one per block in [0, E) (E experts; the expert is
// floor(value)), then, when `blend` > 0, one in [0, blend + 1) for the blend width w = floor(value).
//
// Seams: consecutive blocks with one expert form a run; between runs A (before) and B (after) whose
// boundary is layer s, layers s − w' … s + w' − 1 get weight α = (l − (s − w') + ½) / (2w') for B and
// 1 − α for A, with w' = min(w, ⌊|A|/2⌋, ⌊|B|/2⌋) so that two seams never reach the same layer.
// Tensors before the layers (embeddings) take layer 0's weights and tensors after them (final
// norm, head) the last layer's — exactly what the exported `slices` recipe gives under mergekit's
// rules (embeddings from the first slice, head from the last).
import { fail } from '../errors.ts';
import { layerCountFromNames, layerIndexOf } from '../io/checkpoint.ts';
import { BEFORE_LAYERS_RE } from '../merge/slice-plan.ts';

/** "layer 3" or "layers 4-7". */
export function blockLabel(a: number, b: number): string {
  return b - a === 1 ? `layer ${a}` : `layers ${a}-${b - 1}`;
}

export interface LayerSwapSpec {
  /** Layers per block (the last block may be shorter). */
  blockSize: number;
  /** Largest blend width searched (layers on each side of a seam); 0: hard swaps only. */
  blend: number;
}

export interface LayerSwapModels {
  experts: string[];
}

export class LayerSwap {
  readonly numLayers: number;
  readonly blocks: Array<[number, number]> = [];
  readonly dim: number;
  readonly low: number[] = [];
  readonly high: number[] = [];
  readonly init: number[] = [];
  readonly names: string[] = [];

  constructor(
    readonly spec: LayerSwapSpec,
    tensors: string[],
    readonly experts: string[],
  ) {
    this.numLayers = layerCountFromNames(tensors);
    if (this.numLayers < 2) fail('SEARCH_E_SPACE', `space.layer_swap needs a model with layers (model.layers.N. ...); these tensors show ${this.numLayers} (e.g. ${tensors.slice(0, 3).join(', ')})`);
    if (experts.length < 2) fail('SEARCH_E_SPACE', `space.layer_swap swaps layers between experts; give at least two (got ${experts.length})`);
    if (!Number.isInteger(spec.blockSize) || spec.blockSize < 1 || spec.blockSize > this.numLayers) {
      fail('SEARCH_E_SPACE', `space.layer_swap.block_size must be a whole number from 1 to the ${this.numLayers} layers, got ${spec.blockSize}`);
    }
    if (!Number.isInteger(spec.blend) || spec.blend < 0) fail('SEARCH_E_SPACE', `space.layer_swap.blend must be a whole number ≥ 0 (layers blended on each side of a seam), got ${spec.blend}`);
    for (let a = 0; a < this.numLayers; a += spec.blockSize) this.blocks.push([a, Math.min(this.numLayers, a + spec.blockSize)]);
    const e = experts.length;
    for (const [a, b] of this.blocks) {
      this.low.push(0);
      this.high.push(e);
      // Start in the middle of the first expert's bin: every block from the first expert.
      this.init.push(0.5);
      this.names.push(`expert[${blockLabel(a, b)}]`);
    }
    if (spec.blend > 0) {
      this.low.push(0);
      this.high.push(spec.blend + 1);
      this.init.push(0.5);
      this.names.push('blend');
    }
    this.dim = this.low.length;
  }

  /** The expert index of every block. */
  choices(x: readonly number[]): number[] {
    const e = this.experts.length;
    return this.blocks.map((_, i) => Math.min(e - 1, Math.max(0, Math.floor(x[i]!))));
  }

  /** The blend width (layers on each side of a seam). */
  blendWidth(x: readonly number[]): number {
    if (this.spec.blend === 0) return 0;
    return Math.min(this.spec.blend, Math.max(0, Math.floor(x[this.blocks.length]!)));
  }

  /** Each layer's weights over the experts (each row sums to 1). */
  layerWeights(x: readonly number[]): number[][] {
    const choice = this.choices(x);
    const perLayer: number[] = [];
    this.blocks.forEach(([a, b], i) => {
      for (let l = a; l < b; l++) perLayer.push(choice[i]!);
    });
    const rows: number[][] = perLayer.map((c) => this.experts.map((_, k) => (k === c ? 1 : 0)));
    const w = this.blendWidth(x);
    if (w === 0) return rows;
    // Runs of one expert, then a ramp across each boundary between runs.
    const runs: Array<{ start: number; end: number; expert: number }> = [];
    perLayer.forEach((c, l) => {
      const last = runs[runs.length - 1];
      if (last && last.expert === c) last.end = l + 1;
      else runs.push({ start: l, end: l + 1, expert: c });
    });
    for (let r = 1; r < runs.length; r++) {
      const A = runs[r - 1]!;
      const B = runs[r]!;
      const ws = Math.min(w, Math.floor((A.end - A.start) / 2), Math.floor((B.end - B.start) / 2));
      const s = B.start;
      for (let l = s - ws; l < s + ws; l++) {
        const alpha = (l - (s - ws) + 0.5) / (2 * ws);
        const row = this.experts.map(() => 0);
        row[A.expert] = 1 - alpha;
        row[B.expert] = alpha;
        rows[l] = row;
      }
    }
    return rows;
  }

  /** The weights of one tensor: its layer's, layer 0's before the layers, the last layer's after them. */
  weightsFor(x: readonly number[], tensor: string, rows = this.layerWeights(x)): number[] {
    const i = layerIndexOf(tensor);
    if (i !== undefined) return rows[Math.min(i, this.numLayers - 1)]!;
    return BEFORE_LAYERS_RE.test(tensor) ? rows[0]! : rows[this.numLayers - 1]!;
  }

  /**
   * The point as a mergekit `slices` recipe (merge_method linear): one slice per run of layers with
   * the same weights, each source an expert with a non-zero weight over that layer range.
   */
  recipe(x: readonly number[], expertPaths: string[], dtype?: string): Record<string, unknown> {
    const rows = this.layerWeights(x);
    const slices: Array<Record<string, unknown>> = [];
    let start = 0;
    for (let l = 1; l <= rows.length; l++) {
      if (l < rows.length && rows[l]!.every((v, k) => v === rows[start]![k])) continue;
      const sources = rows[start]!.flatMap((v, k) => (v === 0 ? [] : [{ model: expertPaths[k]!, layer_range: [start, l], parameters: { weight: v } }]));
      slices.push({ sources });
      start = l;
    }
    return { merge_method: 'linear', slices, ...(dtype ? { dtype } : {}) };
  }
}
