// The selected trial's panel (browser only): its values and facts, one coefficient heatmap per
// searched parameter, its intermediate values, and the export box.
import { $, drawNew, plotted, purge, setHtml } from './dom.js';
import { heatmapFigure, heatmapId, intermediateFigure, paramBounds } from './figures.js';
import { detailMetaHtml, detailValuesHtml, exportHintHtml, NO_COEFFICIENTS } from './markup.js';

/** Show trial `t` (as GET /api/studies/:name/trials/:number returns it) of `study`. */
export function showTrial(t, { study, onFront, source }) {
  $('detail-empty').hidden = true;
  $('detail-body').hidden = false;
  $('detail-title').textContent = `Trial ${t.number} — ${t.state}${onFront ? ' · on the Pareto set over all objectives' : ''}`;
  setHtml($('detail-values'), detailValuesHtml(t, study.objectives));
  setHtml($('detail-meta'), detailMetaHtml(t));
  showHeatmaps(t, study);
  const inter = $('intermediate-plot');
  const steps = t.intermediate ?? [];
  inter.hidden = steps.length === 0;
  if (steps.length) drawNew(inter, intermediateFigure(steps));
  else if (plotted(inter)) purge(inter);
  showExportBox(t, study.name, source);
  $('detail').dataset.trial = String(t.number);
}

/** One heatmap per searched parameter: models × units (a global parameter is one row). */
function showHeatmaps(t, study) {
  const box = $('heatmaps');
  for (const div of box.querySelectorAll('.plot')) purge(div);
  box.replaceChildren();
  const tables = Object.entries(t.coefficients ?? {});
  if (!tables.length) {
    setHtml(box, NO_COEFFICIENTS);
    return;
  }
  for (const [param, c] of tables) {
    const div = document.createElement('div');
    div.className = 'plot heatmap';
    div.id = heatmapId(param);
    div.dataset.param = param;
    box.appendChild(div);
    drawNew(div, heatmapFigure(param, c, paramBounds(study.config, param)));
  }
}

function showExportBox(t, studyName, source) {
  const btn = $('export-btn');
  const input = $('export-out');
  const result = $('export-result');
  result.textContent = '';
  result.className = 'export-result';
  input.value = `${studyName}-trial-${t.number}`;
  if (!source.live) {
    btn.disabled = true;
    input.disabled = true;
    setHtml(result, exportHintHtml(source.db ?? 'STUDIES.db', studyName, t.number));
    return;
  }
  const ok = t.state === 'COMPLETE';
  btn.disabled = !ok;
  input.disabled = !ok;
  if (!ok) result.textContent = `Only COMPLETE trials can be exported (this one is ${t.state}).`;
}

/** The Export button: write trial `t` to the folder typed in the box, through the server. */
export async function exportTrial(t, studyName, source) {
  if (!t) return;
  const out = $('export-out').value.trim();
  const result = $('export-result');
  const btn = $('export-btn');
  if (!out) {
    result.className = 'export-result err';
    result.textContent = 'Give an output folder first.';
    return;
  }
  btn.disabled = true;
  result.className = 'export-result busy';
  result.textContent = `Exporting trial ${t.number} to ${out}…`;
  try {
    const r = await source.exportTrial(studyName, t.number, out);
    result.className = 'export-result ok';
    result.textContent = `Exported trial ${t.number} to ${r.out} in ${Number(r.seconds).toFixed(1)} s: ${(r.files ?? []).join(', ')}`;
  } catch (e) {
    result.className = 'export-result err';
    result.textContent = `Export failed: ${e.message}`;
  } finally {
    btn.disabled = false;
  }
}
