// NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002): a population evolved with simulated binary
// crossover and polynomial mutation inside the bounds, parents picked by binary tournament on
// (front rank, crowding distance), survivors chosen from parents ∪ children front by front, the last
// front cut by crowding distance. Every objective is kept as such (no scalarising).
//
// Two faces share the operators below:
//   - the `Optimizer` (ask/tell, JSON state): a generation's children are drawn when it starts and
//     handed out one by one (tag {generation, index}); `wait` while some are out and untold; the tell
//     completing the generation runs selection, in index order, so tell order does not matter.
//     Generation 0 is ctx.init plus uniform points. A child that is an exact copy of a parent or of
//     an earlier child of its generation (a tournament that picks one parent twice, crossover and
//     mutation both skipped: about a third of children at dim 8) is mutated again until it is new,
//     so no trial is spent re-scoring a point already scored (exact copies can only come from the
//     parents; earlier generations' other points are gone from the population).
//   - `nsga2Minimize`, a plain loop over a cheap function (MAP's surrogates).
import { setting } from '../optimizer.ts';
import { toMinimization, type Json, type Optimizer, type OptimizerContext } from '../optimizer.ts';
import { crowdingDistance, nonDominatedSort, paretoFront } from '../pareto.ts';
import { Rng, rngState } from '../rng.ts';

/** Deb's usual constants: distribution indices and crossover probability per pair. */
const ETA_C = 15;
const ETA_M = 20;
const CROSSOVER_PROB = 0.9;
const DEFAULT_POPULATION = 20;

// ---------------------------------------------------------------------------------------------
// Operators (plain arrays; f vectors are minimised, +Infinity for failures)

/** Rank and crowding distance of every member of a population. */
function rankAndCrowding(f: readonly (readonly number[])[]): { rank: number[]; crowding: number[] } {
  const rank = new Array<number>(f.length).fill(0);
  const crowding = new Array<number>(f.length).fill(0);
  nonDominatedSort(f).forEach((front, r) => {
    const d = crowdingDistance(f, front);
    front.forEach((i, k) => {
      rank[i] = r;
      crowding[i] = d[k]!;
    });
  });
  return { rank, crowding };
}

/** Indices of the `size` survivors of `f`: whole fronts while they fit, then the most isolated. */
export function environmentalSelection(f: readonly (readonly number[])[], size: number): number[] {
  const chosen: number[] = [];
  for (const front of nonDominatedSort(f)) {
    if (chosen.length + front.length <= size) {
      chosen.push(...front);
      if (chosen.length === size) break;
      continue;
    }
    const d = crowdingDistance(f, front);
    const order = front.map((_, k) => k).sort((a, b) => d[b]! - d[a]! || a - b);
    for (const k of order.slice(0, size - chosen.length)) chosen.push(front[k]!);
    break;
  }
  return chosen;
}

/**
 * Simulated binary crossover of one variable within [lo, hi]. The spread factor β has density
 * ½(η+1)β^η on β ≤ 1 and ½(η+1)β^−(η+2) beyond; for each child the density is cut where the child
 * would leave the bounds (β ≤ β_max = 1 + 2·(distance to the bound)/|x1 − x2|) and renormalised,
 * then inverted at one uniform u: with α = 2 − β_max^−(η+1),
 * β = (uα)^(1/(η+1)) if u ≤ 1/α, else (1/(2 − uα))^(1/(η+1)).
 */
function sbxPair(x1: number, x2: number, lo: number, hi: number, u: number): [number, number] {
  const a = Math.min(x1, x2);
  const b = Math.max(x1, x2);
  const gap = b - a;
  const e = 1 / (ETA_C + 1);
  const spread = (betaMax: number): number => {
    const alpha = 2 - betaMax ** -(ETA_C + 1);
    return u <= 1 / alpha ? (u * alpha) ** e : (1 / (2 - u * alpha)) ** e;
  };
  const c1 = 0.5 * (a + b - spread(1 + (2 * (a - lo)) / gap) * gap);
  const c2 = 0.5 * (a + b + spread(1 + (2 * (hi - b)) / gap) * gap);
  return [Math.min(hi, Math.max(lo, c1)), Math.min(hi, Math.max(lo, c2))];
}

/**
 * Polynomial mutation within [lo, hi] (the bounded form, Deb & Deb 2014): a perturbation
 * δ ∈ (−1, 1) of the range whose density ∝ (1 − |δ|)^η is cut at the bounds.
 */
function polynomialMutation(x: number, lo: number, hi: number, u: number): number {
  const range = hi - lo;
  const e = 1 / (ETA_M + 1);
  let delta: number;
  if (u < 0.5) {
    const room = 1 - (x - lo) / range;
    delta = (2 * u + (1 - 2 * u) * room ** (ETA_M + 1)) ** e - 1;
  } else {
    const room = 1 - (hi - x) / range;
    delta = 1 - (2 * (1 - u) + 2 * (u - 0.5) * room ** (ETA_M + 1)) ** e;
  }
  return Math.min(hi, Math.max(lo, x + delta * range));
}

/** `count` children of the population (x, f) by tournament, SBX and polynomial mutation. */
export function makeOffspring(
  rng: Rng,
  x: readonly (readonly number[])[],
  f: readonly (readonly number[])[],
  count: number,
  low: readonly number[],
  high: readonly number[],
): number[][] {
  const size = x.length;
  const dim = low.length;
  const { rank, crowding } = rankAndCrowding(f);
  // Binary tournament: lower rank wins, then larger crowding distance, then a coin.
  const tournament = (): number => {
    const i = rng.integer(size);
    const j = size > 1 ? (i + 1 + rng.integer(size - 1)) % size : i; // a different member
    if (rank[i]! !== rank[j]!) return rank[i]! < rank[j]! ? i : j;
    if (crowding[i]! !== crowding[j]!) return crowding[i]! > crowding[j]! ? i : j;
    return rng.uniform() < 0.5 ? i : j;
  };
  const children: number[][] = [];
  while (children.length < count) {
    const p1 = x[tournament()]!;
    const p2 = x[tournament()]!;
    const c1 = [...p1];
    const c2 = [...p2];
    if (rng.uniform() < CROSSOVER_PROB) {
      for (let i = 0; i < dim; i++) {
        // Each variable crosses with probability ½ (Deb's variant); identical parents cannot spread.
        if (rng.uniform() >= 0.5 || Math.abs(p1[i]! - p2[i]!) <= 1e-14) continue;
        const [a, b] = sbxPair(p1[i]!, p2[i]!, low[i]!, high[i]!, rng.uniform());
        // Which child gets the lower value is a coin, so children are not ordered by coordinate.
        if (rng.uniform() < 0.5) {
          c1[i] = a;
          c2[i] = b;
        } else {
          c1[i] = b;
          c2[i] = a;
        }
      }
    }
    for (const c of [c1, c2]) {
      for (let i = 0; i < dim; i++) {
        if (rng.uniform() < 1 / dim) c[i] = polynomialMutation(c[i]!, low[i]!, high[i]!, rng.uniform());
      }
      if (children.length < count) children.push(c);
    }
  }
  return children;
}

/** Tries at making a duplicate child new before it is kept as it is (a box too small to differ in). */
const MAX_RESAMPLE = 20;

const pointKey = (x: readonly number[]): string => x.join(',');

/**
 * `children` with every exact copy of a point in `known` (or of an earlier child) mutated again, one
 * random coordinate at a time by polynomial mutation, until it is a point not seen before.
 */
export function distinctChildren(rng: Rng, children: number[][], known: readonly (readonly number[])[], low: readonly number[], high: readonly number[]): number[][] {
  const seen = new Set(known.map(pointKey));
  return children.map((child) => {
    let c = child;
    for (let tries = 0; seen.has(pointKey(c)) && tries < MAX_RESAMPLE; tries++) {
      c = [...c];
      const i = rng.integer(c.length);
      c[i] = polynomialMutation(c[i]!, low[i]!, high[i]!, rng.uniform());
    }
    seen.add(pointKey(c));
    return c;
  });
}

/** Non-finite values (a failed or exploding evaluation) become +Infinity: ranked last, never chosen. */
function sanitise(v: readonly number[]): number[] {
  return v.map((a) => (Number.isFinite(a) ? a : Infinity));
}

// ---------------------------------------------------------------------------------------------
// Plain loop for cheap surrogate problems

/**
 * Minimises `objectives` over the box [low, high] for `generations` generations after the initial
 * population (init points first, then uniform ones); returns the final population's non-dominated
 * members (x and f), each distinct x once. Non-finite objective values count as +Infinity.
 */
export function nsga2Minimize(opts: {
  objectives: (x: number[]) => number[];
  low: number[];
  high: number[];
  population: number;
  generations: number;
  seed: number;
  init?: number[][];
}): { x: number[][]; f: number[][] } {
  const { low, high, population } = opts;
  if (!(Number.isInteger(population) && population >= 2)) throw new Error(`nsga2Minimize: population must be an integer ≥ 2, got ${population}`);
  const rng = new Rng(rngState(opts.seed));
  const clip = (v: readonly number[]): number[] => v.map((a, i) => Math.min(high[i]!, Math.max(low[i]!, a)));
  let x: number[][] = (opts.init ?? []).slice(0, population).map(clip);
  while (x.length < population) x.push(low.map((lo, i) => rng.between(lo, high[i]!)));
  let f = x.map((p) => sanitise(opts.objectives([...p])));
  for (let g = 0; g < opts.generations; g++) {
    const children = makeOffspring(rng, x, f, population, low, high);
    const fc = children.map((c) => sanitise(opts.objectives([...c])));
    const allX = [...x, ...children];
    const allF = [...f, ...fc];
    const keep = environmentalSelection(allF, population);
    x = keep.map((i) => allX[i]!);
    f = keep.map((i) => allF[i]!);
  }
  // Clones of one point survive selection together; return each point once.
  const seen = new Set<string>();
  const front = paretoFront(f).filter((i) => {
    const key = x[i]!.join(',');
    if (!f[i]!.every(Number.isFinite) || seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return { x: front.map((i) => x[i]!), f: front.map((i) => f[i]!) };
}

// ---------------------------------------------------------------------------------------------
// Ask/tell optimizer

export type Nsga2State = {
  rng: number;
  generation: number;
  /** The surviving population (empty until generation 0 is told) and its minimisation values. */
  parents: number[][];
  /** Per parent; null for a failed trial (JSON has no Infinity). */
  parentValues: (number[] | null)[];
  /** The generation being evaluated. */
  children: number[][];
  childValues: (number[] | null)[];
  told: boolean[];
  handed: number;
};

function populationSize(ctx: OptimizerContext): number {
  return setting<number>(nsga2, ctx, 'population');
}

function asVector(v: number[] | null, m: number): number[] {
  return v ?? new Array<number>(m).fill(Infinity);
}

function parseTag(tag: Json | undefined): { generation: number; index: number } | undefined {
  if (tag === null || typeof tag !== 'object' || Array.isArray(tag)) return undefined;
  const { generation, index } = tag;
  return typeof generation === 'number' && typeof index === 'number' ? { generation, index } : undefined;
}

/** Survivors of parents ∪ children, then the next generation's children. */
function advance(state: Nsga2State, ctx: OptimizerContext): Nsga2State {
  const m = ctx.objectives.length;
  const size = populationSize(ctx);
  const allX = [...state.parents, ...state.children];
  const allV = [...state.parentValues, ...state.childValues];
  const keep = environmentalSelection(
    allV.map((v) => asVector(v, m)),
    size,
  );
  const parents = keep.map((i) => allX[i]!);
  const parentValues = keep.map((i) => allV[i]!);
  const rng = new Rng(state.rng);
  const offspring = makeOffspring(
    rng,
    parents,
    parentValues.map((v) => asVector(v, m)),
    size,
    ctx.low,
    ctx.high,
  );
  const children = distinctChildren(rng, offspring, parents, ctx.low, ctx.high);
  return {
    rng: rng.state,
    generation: state.generation + 1,
    parents,
    parentValues,
    children,
    childValues: children.map(() => null),
    told: children.map(() => false),
    handed: 0,
  };
}

const nsga2: Optimizer<Nsga2State> = {
  name: 'nsga2',
  family: 'black-box',
  multiObjective: true,
  description: 'NSGA-II: SBX (η=15, p=0.9) and polynomial mutation (η=20, p=1/dim) in bounds, (μ+λ) selection by front and crowding distance.',
  settings: [{ name: 'population', kind: 'integer', default: DEFAULT_POPULATION, min: 2, doc: 'Population size (and children per generation).' }],

  check(ctx) {
    const size = populationSize(ctx);
    if (!(Number.isInteger(size) && size >= 2)) return `nsga2: population must be an integer ≥ 2, got ${size}`;
    return undefined;
  },

  init(ctx) {
    const rng = new Rng(rngState(ctx.seed));
    const size = populationSize(ctx);
    const children = [[...ctx.init]];
    while (children.length < size) children.push(ctx.low.map((lo, i) => rng.between(lo, ctx.high[i]!)));
    return {
      rng: rng.state,
      generation: 0,
      parents: [],
      parentValues: [],
      children,
      childValues: children.map(() => null),
      told: children.map(() => false),
      handed: 0,
    };
  },

  ask(state) {
    if (state.handed >= state.children.length) return { kind: 'wait' };
    const index = state.handed;
    return {
      kind: 'propose',
      state: { ...state, handed: index + 1 },
      proposal: { x: [...state.children[index]!], tag: { generation: state.generation, index } },
    };
  },

  tell(state, ctx, proposal, values) {
    const tag = parseTag(proposal.tag);
    if (!tag || tag.generation !== state.generation || tag.index >= state.handed || state.told[tag.index] !== false) return state;
    const v = toMinimization(values, ctx.objectives);
    const told = [...state.told];
    const childValues = [...state.childValues];
    told[tag.index] = true;
    childValues[tag.index] = v.every(Number.isFinite) ? v : null;
    const next = { ...state, told, childValues };
    return told.every(Boolean) ? advance(next, ctx) : next;
  },
};

export default nsga2;
