// The page's few DOM and Plotly helpers (browser only).
import { Html } from './html.js';

const PLOT_CONFIG = { responsive: true, displaylogo: false };
const BASE_LAYOUT = { margin: { l: 64, r: 24, t: 24, b: 56 }, hovermode: 'closest', font: { size: 12 }, legend: { orientation: 'h', y: -0.18 } };

export const $ = (id) => document.getElementById(id);

/** Set an element's markup; only Html (built by html.js's escaping tag) is accepted. */
export function setHtml(el, markup) {
  if (!(markup instanceof Html)) throw new TypeError('setHtml takes Html built by the html tag, not a string');
  el.innerHTML = markup.text;
}

export function showError(msg) {
  const el = $('error');
  el.textContent = msg;
  el.hidden = !msg;
}

export function showLoading(msg) {
  const el = $('loading');
  el.textContent = msg ?? '';
  el.hidden = !msg;
}

/** Whether Plotly has drawn into `div`. */
export function plotted(div) {
  return div.classList.contains('js-plotly-plot');
}

/**
 * Draw a live chart with the page's base layout. Plotly.react keeps zoom across live updates
 * (uirevision); the click handler is bound once per div and calls onPick(trial number).
 */
export function draw(div, { data, layout }, onPick) {
  window.Plotly.react(div, data, { ...BASE_LAYOUT, ...layout }, PLOT_CONFIG);
  if (onPick && !div.dataset.bound) {
    div.dataset.bound = '1';
    div.on('plotly_click', (ev) => {
      const p = ev.points?.[0];
      if (!p) return;
      const n = typeof p.customdata === 'number' ? p.customdata : Array.isArray(p.customdata) ? p.customdata[0] : null;
      if (typeof n === 'number') onPick(n);
    });
  }
}

/** Draw a chart afresh, with its own full layout (the trial's heatmaps and intermediate values). */
export function drawNew(div, { data, layout }) {
  window.Plotly.newPlot(div, data, layout, PLOT_CONFIG);
}

export function purge(div) {
  window.Plotly.purge(div);
}
