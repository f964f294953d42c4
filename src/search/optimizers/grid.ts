// Grid search: every combination of `points_per_dim` evenly spaced values per coordinate, ends
// included, in a fixed order (the last coordinate varies fastest). Only sensible for a few
// coordinates: the grid grows as k^dim, and it refuses more than a million points.
import { setting } from '../optimizer.ts';
import type { Json, Optimizer, OptimizerContext } from '../optimizer.ts';

const MAX_POINTS = 1_000_000;

interface GridState {
  [key: string]: Json;
  next: number;
}

/** Points per coordinate: the setting, or the largest k ≥ 2 with k^dim ≤ budget. */
export function gridPointsPerDim(ctx: Pick<OptimizerContext, 'dim' | 'budget' | 'settings'>): number {
  const set = setting<number>(grid, ctx, 'points_per_dim');
  if (set > 0) return set;
  let k = 2;
  while ((k + 1) ** ctx.dim <= ctx.budget) k++;
  return k;
}

/** The grid's size, k^dim (may be huge: compare before enumerating). */
export function gridSize(ctx: Pick<OptimizerContext, 'dim' | 'budget' | 'settings'>): number {
  return gridPointsPerDim(ctx) ** ctx.dim;
}

/** Grid point number `index`: its base-k digits pick the value per coordinate. */
export function gridPoint(index: number, k: number, low: readonly number[], high: readonly number[]): number[] {
  const x = new Array<number>(low.length);
  let rest = index;
  for (let i = low.length - 1; i >= 0; i--) {
    const j = rest % k;
    rest = Math.floor(rest / k);
    // The last value is `high` exactly (no rounding drift past the bound).
    x[i] = j === k - 1 ? high[i]! : low[i]! + ((high[i]! - low[i]!) * j) / (k - 1);
  }
  return x;
}

const grid: Optimizer<GridState> = {
  name: 'grid',
  family: 'black-box',
  multiObjective: false,
  description: 'Exhaustive grid with points_per_dim evenly spaced values per coordinate (bounds included); done when exhausted.',
  settings: [
    {
      name: 'points_per_dim',
      kind: 'integer',
      default: 0,
      min: 0,
      doc: 'Values per coordinate, at least 2; 0 picks the largest k with k^dim ≤ budget (at least 2).',
    },
  ],

  check(ctx) {
    const set = setting<number>(grid, ctx, 'points_per_dim');
    if ((set === 1 || (set !== 0 && !Number.isInteger(set)))) {
      return `grid: points_per_dim must be 0 (automatic) or an integer ≥ 2, got ${set}`;
    }
    const k = gridPointsPerDim(ctx);
    const size = gridSize(ctx);
    if (size > MAX_POINTS) {
      return (
        `grid: ${k} points per coordinate over ${ctx.dim} coordinates is ${k}^${ctx.dim} = ${size.toExponential(2)} points, ` +
        `more than the limit of ${MAX_POINTS.toExponential(0)}; search fewer coordinates (e.g. task-wise instead of layer-wise), ` +
        `lower points_per_dim, or use random or cmaes`
      );
    }
    return undefined;
  },

  init() {
    return { next: 0 };
  },

  ask(state, ctx) {
    const k = gridPointsPerDim(ctx);
    if (state.next >= k ** ctx.dim) return { kind: 'done' };
    const x = gridPoint(state.next, k, ctx.low, ctx.high);
    return { kind: 'propose', state: { next: state.next + 1 }, proposal: { x, tag: { index: state.next } } };
  },

  tell(state) {
    return state;
  },
};

export default grid;
