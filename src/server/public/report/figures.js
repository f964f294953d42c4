// The page's Plotly figures as plain data ({ data, layout }): what each chart shows, apart from
// drawing it (dom.js). Names that reach Plotly titles, labels or hover templates are escaped:
// Plotly renders a subset of HTML there, links included.
import { axisTitle, fmt } from './format.js';
import { bestSoFar } from './front.js';
import { esc } from './html.js';
import { baselinePoints, baselineValues, referenceLines } from './insights.js';
import { completed, hasValue } from './trials.js';

const COLORS = {
  dominated: 'rgba(134, 142, 150, 0.40)',
  front: '#d6336c',
  predicted: '#2b8a3e',
  history: 'rgba(51, 154, 240, 0.55)',
  best: '#1c7ed6',
  selected: '#212529',
};

/**
 * The Pareto chart of objectives ix (x) and iy (y): dominated points, the server's Pareto set of
 * this pair (`frontNumbers`: the 2-D front, not the front over every objective) and the line
 * joining it; for MAP, the front its surrogates predicted and each evaluated point's prediction
 * joined to what was measured; the baselines as points; a ring around the selected trial.
 * With ix === iy the x axis is the trial number. `note` is the line under the chart.
 */
export function paretoFigure({ study, trials, ix, iy, frontNumbers, hypervolume, selected, baselines }) {
  const objs = study.objectives;
  const ox = objs[ix];
  const oy = objs[iy];
  const same = ix === iy;
  const xOf = (t) => (same ? t.number : t.values[ix]);
  const points = completed(trials).filter((t) => hasValue(t, ix) && hasValue(t, iy));
  const onFront = new Set(frontNumbers ?? []);
  const dominated = points.filter((t) => !onFront.has(t.number));
  const front = points.filter((t) => onFront.has(t.number));
  const hover = `trial %{customdata}<br>${esc(same ? 'trial' : ox.name)} %{x}<br>${esc(oy.name)} %{y}<extra></extra>`;
  const scatter = (ts, name, color, size) => ({
    type: 'scatter',
    mode: 'markers',
    name,
    x: ts.map(xOf),
    y: ts.map((t) => t.values[iy]),
    customdata: ts.map((t) => t.number),
    marker: { color, size },
    hovertemplate: hover,
  });
  const line = [...front].sort((a, b) => xOf(a) - xOf(b) || a.values[iy] - b.values[iy]);
  const data = [
    scatter(dominated, 'dominated', COLORS.dominated, 8),
    scatter(front, 'Pareto set', COLORS.front, 10),
    {
      type: 'scatter',
      mode: 'lines',
      name: 'front',
      x: line.map(xOf),
      y: line.map((t) => t.values[iy]),
      customdata: line.map((t) => t.number),
      line: { color: COLORS.front, width: 2 },
      hoverinfo: 'skip',
    },
  ];
  const mapFront = study.attrs?.map_front;
  if (!same && mapFront && Array.isArray(mapFront.predicted) && mapFront.predicted.length) {
    const pred = mapFront.predicted.filter((p) => Number.isFinite(p?.[ix]) && Number.isFinite(p?.[iy])).sort((a, b) => a[ix] - b[ix]);
    data.push({
      type: 'scatter',
      mode: 'lines+markers',
      name: 'MAP predicted front',
      x: pred.map((p) => p[ix]),
      y: pred.map((p) => p[iy]),
      marker: { color: COLORS.predicted, size: 6, symbol: 'diamond-open' },
      line: { color: COLORS.predicted, dash: 'dash', width: 1.5 },
      hovertemplate: `predicted<br>${esc(ox.name)} %{x}<br>${esc(oy.name)} %{y}<extra></extra>`,
    });
  }
  const withPrediction = points.filter((t) => Array.isArray(t.attrs?.predicted) && Number.isFinite(t.attrs.predicted[ix]) && Number.isFinite(t.attrs.predicted[iy]));
  if (!same && withPrediction.length) {
    // One segment per trial, predicted → measured; null breaks the line between segments.
    const xs = [];
    const ys = [];
    for (const t of withPrediction) xs.push(t.attrs.predicted[ix], t.values[ix], null), ys.push(t.attrs.predicted[iy], t.values[iy], null);
    data.push({ type: 'scatter', mode: 'lines', name: 'predicted → measured', x: xs, y: ys, line: { color: COLORS.predicted, width: 1, dash: 'dot' }, hoverinfo: 'skip' });
  }
  data.push(...baselinePoints(baselines, ix, iy));
  if (selected && selected.state === 'COMPLETE' && hasValue(selected, ix) && hasValue(selected, iy)) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: `trial ${selected.number}`,
      x: [xOf(selected)],
      y: [selected.values[iy]],
      customdata: [selected.number],
      marker: { color: 'rgba(0,0,0,0)', size: 18, line: { color: COLORS.selected, width: 2.5 } },
      hovertemplate: hover,
    });
  }
  const layout = {
    height: 460,
    uirevision: `${study.name}:${ix}:${iy}`,
    xaxis: { title: { text: same ? 'trial' : axisTitle(ox) }, zeroline: false },
    yaxis: { title: { text: axisTitle(oy) }, zeroline: false },
  };
  // The axes name the objectives; the note says which front this is (not the one over all objectives).
  const pair = same ? 'of this objective alone' : 'of this pair only';
  const note = `${front.length} of ${points.length} completed trials on the front ${pair}` + (typeof hypervolume === 'number' && !same ? ` · hypervolume ${fmt(hypervolume)}` : '');
  return { data, layout, note };
}

/** The scatter matrix of every objective (lower half); `front`: the Pareto set over all of them. */
export function matrixFigure({ study, trials, front }) {
  const objs = study.objectives;
  const points = completed(trials).filter((t) => objs.every((_, i) => hasValue(t, i)));
  const onFront = points.map((t) => front.has(t.number));
  const side = Math.min(1100, 130 * objs.length + 80);
  const data = [
    {
      type: 'splom',
      name: 'trials',
      dimensions: objs.map((o, i) => ({ label: esc(o.name), values: points.map((t) => t.values[i]) })),
      customdata: points.map((t) => t.number),
      text: points.map((t) => `trial ${t.number}${front.has(t.number) ? ' (Pareto set)' : ''}`),
      marker: {
        color: onFront.map((f) => (f ? COLORS.front : COLORS.dominated)),
        size: onFront.map((f) => (f ? 7 : 5)),
      },
      showupperhalf: false,
      diagonal: { visible: false },
      hovertemplate: '%{text}<br>%{xaxis.title.text} %{x}<br>%{yaxis.title.text} %{y}<extra></extra>',
    },
  ];
  return { data, layout: { height: side, uirevision: study.name, dragmode: 'select', margin: { l: 80, r: 24, t: 24, b: 80 } } };
}

/** Objective i per trial, the best value so far as a step line, and the baselines as reference lines. */
export function historyFigure({ study, trials, i, baselines }) {
  const o = study.objectives[i];
  const ts = completed(trials).filter((t) => hasValue(t, i));
  const xs = ts.map((t) => t.number);
  const ys = ts.map((t) => t.values[i]);
  const data = [
    {
      type: 'scatter',
      mode: 'markers',
      // The legend shows trace names, and renders them as Plotly's HTML subset too.
      name: esc(o.name),
      x: xs,
      y: ys,
      customdata: ts.map((t) => t.number),
      marker: { color: COLORS.history, size: 6 },
      hovertemplate: `trial %{x}<br>${esc(o.name)} %{y}<extra></extra>`,
    },
    { type: 'scatter', mode: 'lines', name: 'best so far', x: xs, y: bestSoFar(o, ys), line: { color: COLORS.best, shape: 'hv', width: 2 }, hoverinfo: 'skip' },
  ];
  if (xs.length) data.push(...referenceLines(baselineValues(baselines, i), xs[0], xs[xs.length - 1]));
  return { data, layout: { height: 320, uirevision: `${study.name}:${i}`, xaxis: { title: { text: 'trial' } }, yaxis: { title: { text: axisTitle(o) } } } };
}

/** A searched parameter's bounds from the study config, or null when it has none. */
export function paramBounds(config, param) {
  const p = config?.identity?.space?.parameters?.[param];
  return p && typeof p.low === 'number' && typeof p.high === 'number' ? p : null;
}

/** The element id of a parameter's heatmap (ids allow only a few characters). */
export function heatmapId(param) {
  return `heatmap-${param.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/**
 * One coefficient table (`{ models?, units, values }`: rows × units; a global parameter has no
 * models and is one row named after it) as a heatmap on the parameter's bounds. Cells show their
 * value while there are at most 120; long unit names tilt and get room below.
 */
export function heatmapFigure(param, table, bounds) {
  const rows = table.models ?? [param];
  // One unit (task granularity, a global parameter): one value per row, which a bar shows better
  // than a one-column heatmap.
  if (table.units.length === 1) return barFigure(param, rows, table.values.map((r) => r[0]), bounds);
  const longUnits = table.units.some((u) => u.length > 12);
  const data = [
    {
      type: 'heatmap',
      name: param,
      z: table.values,
      // Tick labels render Plotly's HTML subset too; model and unit names come from folders and tensors.
      x: table.units.map(esc),
      y: rows.map(esc),
      colorscale: 'Viridis',
      zmin: bounds?.low,
      zmax: bounds?.high,
      texttemplate: table.units.length * rows.length <= 120 ? '%{z:.3f}' : '',
      hovertemplate: `${esc(param)}<br>%{y} · %{x}<br>%{z:.4f}<extra></extra>`,
      colorbar: { title: { text: esc(param) } },
    },
  ];
  const layout = {
    title: { text: esc(`${param}${bounds ? ` (bounds ${bounds.low} to ${bounds.high})` : ''}`) },
    height: Math.min(640, 140 + 30 * rows.length + (longUnits ? 100 : 0)),
    margin: { l: 110, r: 24, t: 40, b: longUnits ? 160 : 48 },
    xaxis: { type: 'category', tickangle: longUnits ? -40 : 0, automargin: true },
    yaxis: { type: 'category', autorange: 'reversed', automargin: true },
  };
  return { data, layout };
}

/** One value per model (or the one value of a global parameter) as bars on the parameter's bounds. */
export function barFigure(param, rows, values, bounds) {
  const data = [
    {
      type: 'bar',
      name: esc(param),
      x: rows.map(esc),
      y: values,
      marker: { color: COLORS.best },
      text: values.map((v) => (typeof v === 'number' ? v.toFixed(3) : String(v))),
      textposition: 'auto',
      hovertemplate: `${esc(param)}<br>%{x}: %{y:.4f}<extra></extra>`,
    },
  ];
  const longRows = rows.some((r) => r.length > 12);
  const layout = {
    title: { text: esc(`${param}${bounds ? ` (bounds ${bounds.low} to ${bounds.high})` : ''}`) },
    height: 300,
    margin: { l: 64, r: 24, t: 40, b: longRows ? 120 : 48 },
    xaxis: { type: 'category', tickangle: longRows ? -40 : 0, automargin: true },
    yaxis: bounds ? { range: [Math.min(0, bounds.low), bounds.high] } : {},
    showlegend: false,
  };
  return { data, layout };
}

/** A trial's intermediate values (per gradient step); markers while there are few. */
export function intermediateFigure(steps) {
  return {
    data: [{ type: 'scatter', mode: steps.length > 60 ? 'lines' : 'lines+markers', name: 'intermediate', x: steps.map((s) => s.step), y: steps.map((s) => s.value), line: { color: COLORS.best } }],
    layout: { height: 280, margin: { l: 64, r: 24, t: 40, b: 48 }, title: { text: 'intermediate values (per gradient step)' }, xaxis: { title: { text: 'step' } }, yaxis: { title: { text: 'value' } } },
  };
}
