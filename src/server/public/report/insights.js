// The page's decision figures as plain data ({ data, layout }): parallel coordinates over
// objectives and coefficients, parameter importance (Spearman ρ computed by the server with
// simple-statistics), several studies' best-so-far curves on one plot, and the baselines as
// reference lines and points. Names that reach Plotly are escaped (Plotly renders an HTML subset).
import { axisTitle } from './format.js';
import { esc } from './html.js';
import { completed, hasValue } from './trials.js';

export const BASELINE_STYLE = {
  base: { color: '#868e96', dash: 'dot' },
  taskArithmetic: { color: '#f08c00', dash: 'dash' },
  experts: { color: '#2b8a3e', dash: 'dashdot' },
};

/** Coefficient axes drawn at most in the parallel coordinates (Plotly's limit is 60 dimensions). */
export const MAX_PARCOORDS = 40;
/** Bars drawn at most in the importance chart. */
export const MAX_IMPORTANCE_BARS = 30;

/**
 * The baselines of objective i as reference values: [{ key, name, value }] (key: base,
 * taskArithmetic, experts); `i === 'score'` gives the recommendation scores instead.
 */
export function baselineValues(baselines, i) {
  if (!baselines) return [];
  const ta = baselines.taskArithmetic ? `task arithmetic (λ ${baselines.taskArithmetic.lambda})` : null;
  const command = baselines.kind === 'command';
  const expertsName = command ? 'best expert on each objective' : 'each expert on its own task';
  if (i === 'score') {
    const s = baselines.scores;
    return [
      { key: 'base', name: 'base', value: s.base },
      { key: 'taskArithmetic', name: ta, value: s.taskArithmetic },
      { key: 'experts', name: expertsName, value: s.experts },
    ].filter((r) => typeof r.value === 'number');
  }
  const e = baselines.experts[i];
  return [
    { key: 'base', name: 'base', value: baselines.base ? baselines.base[i] : null },
    { key: 'taskArithmetic', name: ta, value: baselines.taskArithmetic ? baselines.taskArithmetic.values[i] : null },
    { key: 'experts', name: e ? (command ? `expert ${e.task} (the best on it)` : `expert ${e.task} on its own task`) : null, value: e ? e.value : null },
  ].filter((r) => typeof r.value === 'number' && Number.isFinite(r.value));
}

/** Horizontal reference lines from x0 to x1, one trace per baseline (named `baseline: NAME`). */
export function referenceLines(refs, x0, x1) {
  return refs.map((r) => ({
    type: 'scatter',
    mode: 'lines',
    name: esc(`baseline: ${r.name}`),
    x: [x0, x1],
    y: [r.value, r.value],
    line: { color: BASELINE_STYLE[r.key].color, dash: BASELINE_STYLE[r.key].dash, width: 1.5 },
    hovertemplate: `${esc(r.name)}: %{y}<extra></extra>`,
  }));
}

/** The baselines as points on the 2-D Pareto chart of objectives ix, iy (none when ix === iy). */
export function baselinePoints(baselines, ix, iy) {
  if (!baselines || ix === iy) return [];
  const xs = baselineValues(baselines, ix);
  const ys = baselineValues(baselines, iy);
  const symbols = { base: 'square', taskArithmetic: 'diamond', experts: 'star' };
  return xs
    .filter((r) => ys.some((q) => q.key === r.key))
    .map((r) => {
      const q = ys.find((y) => y.key === r.key);
      const name = r.key === 'experts' ? (baselines.kind === 'command' ? 'best expert on each objective' : 'each expert on its own task') : r.name;
      return {
        type: 'scatter',
        mode: 'markers',
        name: esc(`baseline: ${name}`),
        x: [r.value],
        y: [q.value],
        marker: { color: BASELINE_STYLE[r.key].color, size: 13, symbol: symbols[r.key], line: { color: '#fff', width: 1 } },
        hovertemplate: `${esc(name)}<br>%{x}, %{y}<extra></extra>`,
      };
    });
}

/**
 * Parallel coordinates: one line per completed trial (all values finite), an axis per objective
 * then per coefficient (the first MAX_PARCOORDS), lines on the Pareto set over all objectives
 * (`front`) coloured. `coordinates`: the coefficient names.
 */
export function parcoordsFigure({ study, trials, coordinates, front }) {
  const objs = study.objectives;
  const ts = completed(trials).filter((t) => objs.every((_, i) => hasValue(t, i)) && Array.isArray(t.x) && t.x.every((v) => typeof v === 'number'));
  const dim = ts.length ? ts[0].x.length : 0;
  const shown = Math.min(dim, MAX_PARCOORDS);
  const dimensions = [
    ...objs.map((o, i) => ({ label: esc(`${o.name} ${o.direction === 'maximize' ? '↑' : '↓'}`), values: ts.map((t) => t.values[i]) })),
    ...Array.from({ length: shown }, (_, c) => ({ label: esc(coordinates?.[c] ?? `x[${c}]`), values: ts.map((t) => t.x[c]) })),
  ];
  const data = [
    {
      type: 'parcoords',
      name: 'trials',
      customdata: ts.map((t) => t.number),
      line: { color: ts.map((t) => (front.has(t.number) ? 1 : 0)), colorscale: [[0, 'rgba(134,142,150,0.5)'], [1, '#d6336c']], cmin: 0, cmax: 1 },
      dimensions,
    },
  ];
  const note = `${ts.length} completed trials; coloured: on the Pareto set over all ${objs.length} objectives` + (dim > shown ? `; the first ${shown} of ${dim} coefficients` : '');
  return { data, layout: { height: 440, margin: { l: 80, r: 80, t: 64, b: 24 }, uirevision: study.name }, note };
}

/** Bars of ρ between each coefficient and the recommendation score, strongest first (nulls last, left out). */
export function importanceFigure(imp) {
  const rows = imp.coordinates
    .map((name, c) => ({ name, r: imp.score[c] }))
    .filter((x) => typeof x.r === 'number')
    .sort((a, b) => Math.abs(b.r) - Math.abs(a.r) || a.name.localeCompare(b.name))
    .slice(0, MAX_IMPORTANCE_BARS);
  const data = [
    {
      type: 'bar',
      name: 'Spearman ρ with the score',
      x: rows.map((x) => esc(x.name)),
      y: rows.map((x) => x.r),
      marker: { color: rows.map((x) => (x.r >= 0 ? '#1c7ed6' : '#e8590c')) },
      hovertemplate: '%{x}<br>ρ = %{y:.3f}<extra></extra>',
    },
  ];
  const layout = { height: 340, margin: { l: 64, r: 24, t: 24, b: 120 }, xaxis: { type: 'category', tickangle: -40, automargin: true }, yaxis: { title: { text: 'Spearman ρ with the score' }, range: [-1, 1] }, showlegend: false };
  return { data, layout };
}

/** ρ of every coefficient (rows) with every objective (columns). */
export function importanceMatrixFigure(imp) {
  const data = [
    {
      type: 'heatmap',
      name: 'Spearman ρ',
      z: imp.spearman,
      x: imp.objectives.map(esc),
      y: imp.coordinates.map(esc),
      zmin: -1,
      zmax: 1,
      colorscale: 'RdBu',
      reversescale: true,
      hovertemplate: '%{y} · %{x}<br>ρ = %{z:.3f}<extra></extra>',
      colorbar: { title: { text: 'ρ' } },
    },
  ];
  const layout = { height: Math.min(900, 120 + 18 * imp.coordinates.length), margin: { l: 160, r: 24, t: 24, b: 100 }, xaxis: { type: 'category', tickangle: -30, automargin: true }, yaxis: { type: 'category', autorange: 'reversed', automargin: true } };
  return { data, layout };
}

/**
 * Best-so-far curves of the studies on this benchmark (compare API), of the score (`series`
 * 'score') or of objective `series` (an index), with this study's baselines as reference lines.
 */
export function compareFigure({ study, compare, series, baselines }) {
  const data = compare.studies.map((s) => {
    const c = series === 'score' ? s.score : s.objectives[series];
    return {
      type: 'scatter',
      mode: 'lines',
      name: esc(`${s.name} (${s.optimizer})`),
      x: c.x,
      y: c.y,
      line: { shape: 'hv', width: s.name === study.name ? 3 : 1.5 },
      hovertemplate: `${esc(s.name)}<br>after %{x} trials: %{y}<extra></extra>`,
    };
  });
  const xMax = Math.max(1, ...compare.studies.flatMap((s) => s.score.x));
  data.push(...referenceLines(baselineValues(baselines, series), 1, xMax));
  const title = series === 'score' ? 'best score so far' : axisTitle(study.objectives[series]);
  return { data, layout: { height: 380, uirevision: `${study.name}:compare:${series}`, xaxis: { title: { text: 'trials spent' } }, yaxis: { title: { text: title } } } };
}
