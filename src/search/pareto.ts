// Pareto tools over minimisation vectors (use `toMinimization` from optimizer.ts first): dominance,
// non-dominated sorting and crowding distance (NSGA-II, Deb et al. 2002), the first front, and the
// exact hypervolume (a sweep in 2-D, the WFG recursion of While, Bradstreet & Barone 2012 above).
// Used by the nsga2 optimizer, by MAP's surrogate search and by the report server.
//
// Values may be +Infinity (failed trials): they compare like any number (Infinity = Infinity), so a
// failed point is dominated by every finite one and contributes no hypervolume. NaN is not allowed.

/** a dominates b: no worse in every objective and strictly better in at least one. */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let k = 0; k < a.length; k++) {
    const ak = a[k]!;
    const bk = b[k]!;
    if (ak > bk) return false;
    if (ak < bk) better = true;
  }
  return better;
}

/**
 * Fronts of indices: front 0 is non-dominated, front 1 is non-dominated once front 0 is removed, ...
 * Deb's fast non-dominated sort, O(M N²). Within a front, indices are in increasing order.
 */
export function nonDominatedSort(points: readonly (readonly number[])[]): number[][] {
  const n = points.length;
  const dominated: number[][] = Array.from({ length: n }, () => []); // whom i dominates
  const count = new Array<number>(n).fill(0); // how many dominate i
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (dominates(points[i]!, points[j]!)) {
        dominated[i]!.push(j);
        count[j]!++;
      } else if (dominates(points[j]!, points[i]!)) {
        dominated[j]!.push(i);
        count[i]!++;
      }
    }
  }
  const fronts: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i < n; i++) if (count[i] === 0) current.push(i);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominated[i]!) if (--count[j]! === 0) next.push(j);
    }
    next.sort((a, b) => a - b);
    current = next;
  }
  return fronts;
}

/** Rank per point (0 = first front), from `nonDominatedSort`. */
export function paretoRanks(points: readonly (readonly number[])[]): number[] {
  const rank = new Array<number>(points.length).fill(0);
  nonDominatedSort(points).forEach((front, r) => front.forEach((i) => (rank[i] = r)));
  return rank;
}

/** Indices of the non-dominated points (duplicates of a non-dominated point are all kept). */
export function paretoFront(points: readonly (readonly number[])[]): number[] {
  const front: number[] = [];
  for (let i = 0; i < points.length; i++) {
    let isDominated = false;
    for (let j = 0; j < points.length && !isDominated; j++) isDominated = j !== i && dominates(points[j]!, points[i]!);
    if (!isDominated) front.push(i);
  }
  return front;
}

/**
 * Crowding distance of each point of one front (returned in the order of `front`): per objective,
 * sort the front; the two extremes get +Infinity; an inner point adds the gap between its neighbours
 * divided by the objective's range on the front. An objective with zero (or infinite) range adds
 * nothing: it cannot tell the points apart.
 */
export function crowdingDistance(points: readonly (readonly number[])[], front: readonly number[]): number[] {
  const m = front.length;
  const distance = new Array<number>(m).fill(0);
  if (m === 0) return distance;
  const dims = points[front[0]!]!.length;
  for (let k = 0; k < dims; k++) {
    // Positions within `front`, sorted by objective k (ties by position: deterministic).
    const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => points[front[a]!]![k]! - points[front[b]!]![k]! || a - b);
    const lo = points[front[order[0]!]!]![k]!;
    const hi = points[front[order[m - 1]!]!]![k]!;
    distance[order[0]!] = Infinity;
    distance[order[m - 1]!] = Infinity;
    const range = hi - lo;
    if (!(range > 0 && Number.isFinite(range))) continue;
    for (let i = 1; i < m - 1; i++) {
      const gap = points[front[order[i + 1]!]!]![k]! - points[front[order[i - 1]!]!]![k]!;
      distance[order[i]!]! += gap / range;
    }
  }
  return distance;
}

/**
 * The volume of the region dominated by `points` and bounded by `reference` (minimisation: the union
 * of the boxes [p, reference]). Points not strictly better than the reference in every objective add
 * nothing. Exact; fast enough for a few hundred points in up to 5 objectives.
 */
export function hypervolume(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const d = reference.length;
  const inside = points.filter((p) => {
    if (p.length !== d) throw new Error(`hypervolume: point has ${p.length} objectives, reference has ${d}`);
    return p.every((v, k) => v < reference[k]!);
  });
  if (inside.length === 0) return 0;
  if (d === 1) return reference[0]! - Math.min(...inside.map((p) => p[0]!));
  return wfg(nondominated(inside), reference, d);
}

/** 2-D: sort by the first objective and add one rectangle per point that lowers the second. */
function hv2(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const sorted = [...points].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let volume = 0;
  let floor = reference[1]!; // best second objective seen so far
  for (const p of sorted) {
    if (p[1]! < floor) {
      volume += (reference[0]! - p[0]!) * (floor - p[1]!);
      floor = p[1]!;
    }
  }
  return volume;
}

/**
 * WFG on the first `d` objectives of mutually non-dominated points, all inside the reference.
 * Sorted by objective d-1 in decreasing order, the volume is the sum over k of what point k adds
 * beyond the points after it. Those points are no worse than k in objective d-1, so within k's box
 * they cover exactly the slab over their (d-1)-dimensional "limit set" (componentwise max with k):
 * k's exclusive volume = (r[d-1] − p_k[d-1]) × (box_{d-1}(p_k) − HV_{d-1}(limit set)).
 */
function wfg(points: readonly (readonly number[])[], reference: readonly number[], d: number): number {
  if (d === 2) return hv2(points, reference);
  if (points.length === 1) return box(points[0]!, reference, d);
  const sorted = [...points].sort((a, b) => b[d - 1]! - a[d - 1]!);
  let volume = 0;
  for (let k = 0; k < sorted.length; k++) {
    const p = sorted[k]!;
    const height = reference[d - 1]! - p[d - 1]!;
    if (height <= 0) continue;
    const limit: number[][] = [];
    for (let j = k + 1; j < sorted.length; j++) {
      const q = sorted[j]!;
      const w = new Array<number>(d - 1);
      for (let i = 0; i < d - 1; i++) w[i] = Math.max(p[i]!, q[i]!);
      limit.push(w);
    }
    const covered = limit.length === 0 ? 0 : wfg(nondominated(limit), reference, d - 1);
    volume += height * (box(p, reference, d - 1) - covered);
  }
  return volume;
}

/** Volume of the box [p, reference] in the first d objectives. */
function box(p: readonly number[], reference: readonly number[], d: number): number {
  let v = 1;
  for (let i = 0; i < d; i++) v *= reference[i]! - p[i]!;
  return v;
}

/** The non-dominated points, with exact duplicates kept once (they add no volume twice). */
function nondominated(points: readonly (readonly number[])[]): (readonly number[])[] {
  const keep: (readonly number[])[] = [];
  outer: for (let i = 0; i < points.length; i++) {
    const p = points[i]!;
    for (let j = 0; j < points.length; j++) {
      if (j === i) continue;
      const q = points[j]!;
      if (dominates(q, p)) continue outer;
      if (j < i && q.every((v, k) => v === p[k])) continue outer; // an earlier duplicate stands for it
    }
    keep.push(p);
  }
  return keep;
}
