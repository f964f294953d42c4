// Pareto dominance and "best so far", computed in the page (plain data in, plain data out).
import { completed, hasValue } from './trials.js';

/** Whether point `a` dominates `b`, both in minimisation space: nowhere worse, somewhere better. */
export function dominates(a, b) {
  let strictly = false;
  for (let k = 0; k < a.length; k++) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly = true;
  }
  return strictly;
}

/**
 * The Pareto set over every objective (the table's "best only", the scatter matrix), as
 * src/search/pareto.ts computes it: COMPLETE trials with finite values, non-dominated in
 * minimisation space, duplicates kept (equal points do not dominate each other). The server's
 * /pareto over every objective would also compute a k-D hypervolume, which takes seconds for
 * hundreds of trials in 8+ objectives; the page needs only the set, and asks the server for the
 * two plotted objectives (2-D: fast).
 */
export function paretoSet(trials, objectives) {
  const ts = completed(trials).filter((t) => objectives.every((_, i) => hasValue(t, i)));
  const mins = ts.map((t) => objectives.map((o, i) => (o.direction === 'maximize' ? -t.values[i] : t.values[i])));
  const front = new Set();
  for (let i = 0; i < mins.length; i++) {
    let dominated = false;
    for (let j = 0; j < mins.length && !dominated; j++) dominated = j !== i && dominates(mins[j], mins[i]);
    if (!dominated) front.add(ts[i].number);
  }
  return front;
}

/** Whether value `a` is strictly better than `b` for objective `o`. */
export function better(o, a, b) {
  return o.direction === 'maximize' ? a > b : a < b;
}

/** The best value up to and including each position of `values`, for objective `o`. */
export function bestSoFar(o, values) {
  let best = null;
  return values.map((v) => (best = best === null || better(o, v, best) ? v : best));
}
