// How the page writes numbers and objective names (plain functions, no DOM).
import { esc } from './html.js';

/** A value for a table cell: short, fixed digits for ordinary magnitudes, exponent otherwise. */
export function fmt(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

/** The direction of an objective, as the selectors and titles show it. */
export function arrow(o) {
  return o.direction === 'maximize' ? '↑ max' : '↓ min';
}

/** The short arrow of the table's column heads. */
export function shortArrow(o) {
  return o.direction === 'maximize' ? '↑' : '↓';
}

/**
 * An objective's axis title. Plotly renders a subset of HTML in titles and labels (links
 * included), so the name is escaped: a study's objective names come from its config file.
 */
export function axisTitle(o) {
  return esc(`${o.name} (${arrow(o)})`);
}

/** `{COMPLETE: 3, FAIL: 1}` as "3 COMPLETE, 1 FAIL" (states with no trial left out). */
export function countsText(counts) {
  return (
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ') || 'none yet'
  );
}

/** The number of trials in a study summary's `counts`. */
export function trialTotal(counts) {
  return Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
}
