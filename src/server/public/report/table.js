// The trial table's columns, sort order and visible rows (plain data in, plain data out).
import { shortArrow } from './format.js';
import { byNumber, hasValue, seconds } from './trials.js';

/** [key, label] per column: trial, state, one per objective (`v0`, `v1`, …), seconds. */
export function tableColumns(objectives) {
  return [['number', 'trial'], ['state', 'state'], ...objectives.map((o, i) => [`v${i}`, `${o.name} ${shortArrow(o)}`]), ['seconds', 'seconds']];
}

/** The value a column sorts trial `t` by; null for an empty cell. */
export function sortValue(t, key) {
  if (key === 'number') return t.number;
  if (key === 'state') return t.state;
  if (key === 'seconds') return seconds(t);
  if (key.startsWith('v')) {
    const i = Number(key.slice(1));
    return hasValue(t, i) ? t.values[i] : null;
  }
  return null;
}

/** Numbers compare as numbers, text as text; empty cells sort last whichever the direction; ties by number. */
export function compareBy(key, dir) {
  return (a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null && vb === null) return a.number - b.number;
    if (va === null) return 1;
    if (vb === null) return -1;
    const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
    return c * dir || a.number - b.number;
  };
}

/**
 * The sort after a click on column `key`: the same column flips direction; another starts
 * ascending, except an objective to maximise, whose first click puts its best values on top.
 */
export function nextSort(sort, key, objectives) {
  if (sort.key === key) return { key, dir: -sort.dir };
  const first = key.startsWith('v') && objectives[Number(key.slice(1))]?.direction === 'maximize' ? -1 : 1;
  return { key, dir: first };
}

/**
 * The rows to draw: `trials` filtered by state and (bestOnly) by membership of `front`, sorted,
 * at most `max` of them; `total` counts the rows before the cut.
 */
export function visibleRows(trials, { stateFilter, bestOnly, front, sort, max }) {
  let rows = byNumber(trials);
  if (stateFilter) rows = rows.filter((t) => t.state === stateFilter);
  if (bestOnly) rows = rows.filter((t) => front.has(t.number));
  rows.sort(compareBy(sort.key, sort.dir));
  return { rows: rows.slice(0, max), total: rows.length };
}
