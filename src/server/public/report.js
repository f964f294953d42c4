// The mergesearch report page: plain ES module, no build step. It reads a study either from the
// server's JSON API (`mergesearch serve`, polled every 2 s while a search runs) or from JSON
// embedded in the page (`mergesearch report --out report.html`, a self-contained file that works
// from file:// with no network). Every chart is drawn by Plotly (window.Plotly), axes included.

const POLL_MS = 2000;
/** Trials fetched per request while loading a study. */
const PAGE = 1000;
/** Rows drawn in the trial table at most (sorting and filtering see every trial). */
const MAX_ROWS = 1000;
const COLORS = {
  dominated: 'rgba(134, 142, 150, 0.40)',
  front: '#d6336c',
  predicted: '#2b8a3e',
  history: 'rgba(51, 154, 240, 0.55)',
  best: '#1c7ed6',
  selected: '#212529',
};
const PLOT_CONFIG = { responsive: true, displaylogo: false };

const $ = (id) => document.getElementById(id);

// ---- data sources: the live API or the data embedded by `mergesearch report` ----

function apiSource(token) {
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  const enc = encodeURIComponent;
  async function call(path, init = {}) {
    const r = await fetch(path, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
    let body = null;
    try {
      body = await r.json();
    } catch {
      // not JSON: the status line says what happened
    }
    if (!r.ok) {
      const msg = body?.error?.message ?? body?.message ?? `${r.status} ${r.statusText}`;
      const hint = r.status === 401 ? ' (open the page with ?token=… as printed by mergesearch serve)' : '';
      throw new Error(`${msg}${hint}`);
    }
    return body;
  }
  const base = (name) => `api/studies/${enc(name)}`;
  return {
    live: true,
    studies: () => call('api/studies'),
    study: (name) => call(base(name)),
    trials: (name, after, limit) => call(`${base(name)}/trials?${after === null ? '' : `after=${after}&`}limit=${limit}`),
    pareto: (name, objectives) => call(`${base(name)}/pareto${objectives ? `?objectives=${objectives.map(enc).join(',')}` : ''}`),
    trial: (name, number) => call(`${base(name)}/trials/${number}`),
    exportTrial: (name, number, out) =>
      call(`${base(name)}/trials/${number}/export`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ out }) }),
  };
}

/** Keys of embedded Pareto sets: objective names in study order, comma-joined; `*` for all. */
function paretoKey(objectives) {
  return objectives ? objectives.join(',') : '*';
}

function embeddedSource(data) {
  const of = (name) => {
    const s = data.byStudy[name];
    if (!s) throw new Error(`study ${name} is not in this report`);
    return s;
  };
  return {
    live: false,
    db: data.db,
    studies: async () => data.studies,
    study: async (name) => ({ study: of(name).study }),
    trials: async (name, after, limit) => {
      const rest = of(name).trials.filter((t) => after === null || t.number > after);
      const page = rest.slice(0, limit);
      return { trials: page, last: page.length ? page[page.length - 1].number : null, more: rest.length > limit };
    },
    pareto: async (name, objectives) => {
      const p = of(name).pareto[paretoKey(objectives)];
      if (!p) throw new Error(`this report has no Pareto set for ${paretoKey(objectives)}`);
      return p;
    },
    trial: async (name, number) => {
      const t = of(name).details[number];
      if (!t) throw new Error(`trial ${number} is not in this report`);
      return { trial: t };
    },
    exportTrial: async () => {
      throw new Error('a saved report cannot export; use mergesearch export');
    },
  };
}

const embeddedEl = document.getElementById('mergesearch-data');
const params = new URLSearchParams(location.search);
const source = embeddedEl ? embeddedSource(JSON.parse(embeddedEl.textContent)) : apiSource(params.get('token'));

// ---- state ----

const state = {
  /** Bumped whenever another study is opened, so late answers for the old one are dropped. */
  generation: 0,
  studies: [],
  name: null,
  study: null,
  /** number → trial, as the API returns them. */
  trials: new Map(),
  /** Pareto set (trial numbers) of the two plotted objectives, and of all objectives. */
  pairFront: { trials: [], hypervolume: null, reference: null },
  allFront: new Set(),
  ix: 0,
  iy: 1,
  historyObjective: 0,
  selected: null,
  detail: null,
  sort: { key: 'number', dir: 1 },
  stateFilter: '',
  bestOnly: false,
  pollTimer: null,
  polls: 0,
};

// ---- small helpers ----

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function fmt(v) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3)) return v.toExponential(3);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
}

function seconds(t) {
  if (typeof t.attrs?.seconds === 'number') return t.attrs.seconds;
  return t.started != null && t.finished != null ? (t.finished - t.started) / 1000 : null;
}

const objectives = () => state.study?.objectives ?? [];
const arrow = (o) => (o.direction === 'maximize' ? '↑ max' : '↓ min');
// Plotly renders a subset of HTML in titles and labels (links included): names are escaped.
const axisTitle = (o) => esc(`${o.name} (${arrow(o)})`);
const better = (o, a, b) => (o.direction === 'maximize' ? a > b : a < b);
const finite = (t, i) => Array.isArray(t.values) && typeof t.values[i] === 'number' && Number.isFinite(t.values[i]);
const sortedTrials = () => [...state.trials.values()].sort((a, b) => a.number - b.number);
const completed = () => sortedTrials().filter((t) => t.state === 'COMPLETE' && Array.isArray(t.values));

function showError(msg) {
  const el = $('error');
  el.textContent = msg;
  el.hidden = !msg;
}

function showLoading(msg) {
  const el = $('loading');
  el.textContent = msg ?? '';
  el.hidden = !msg;
}

function setUrl() {
  const u = new URL(location.href);
  if (u.protocol === 'file:') return; // keep a saved report's address as it is
  if (state.name) u.searchParams.set('study', state.name);
  if (state.selected !== null) u.searchParams.set('trial', String(state.selected));
  else u.searchParams.delete('trial');
  history.replaceState(null, '', u);
}

function plotted(div) {
  return div.classList.contains('js-plotly-plot');
}

/** Plotly.react keeps zoom across live updates (uirevision); handlers are bound once per div. */
function draw(div, data, layout, onClick) {
  const base = { margin: { l: 64, r: 24, t: 24, b: 56 }, hovermode: 'closest', font: { size: 12 }, legend: { orientation: 'h', y: -0.18 } };
  window.Plotly.react(div, data, { ...base, ...layout }, PLOT_CONFIG);
  if (onClick && !div.dataset.bound) {
    div.dataset.bound = '1';
    div.on('plotly_click', (ev) => {
      const p = ev.points?.[0];
      if (!p) return;
      const n = typeof p.customdata === 'number' ? p.customdata : Array.isArray(p.customdata) ? p.customdata[0] : null;
      if (typeof n === 'number') selectTrial(n);
    });
  }
}

// ---- loading ----

async function loadTrials(name, gen, after, onPage) {
  const got = [];
  let cursor = after;
  // Page until an empty answer: a server may cap `limit` below what was asked.
  for (;;) {
    const r = await source.trials(name, cursor, PAGE);
    if (gen !== state.generation) return null;
    if (!r.trials.length) break;
    got.push(...r.trials);
    onPage?.(got.length);
    if (r.more === false) break;
    cursor = r.trials[r.trials.length - 1].number;
  }
  return got;
}

/**
 * The Pareto set over every objective (the table's "best only", the scatter matrix), computed here
 * as src/search/pareto.ts does: COMPLETE trials with finite values, non-dominated in minimisation
 * space, duplicates kept. The server's /pareto with every objective would also compute a k-D
 * hypervolume, which takes seconds for hundreds of trials in 8+ objectives; the page needs only
 * the set, and asks the server for the two plotted objectives (2-D: fast).
 */
function paretoSetAll() {
  const objs = objectives();
  const ts = completed().filter((t) => objs.every((_, i) => finite(t, i)));
  const mins = ts.map((t) => objs.map((o, i) => (o.direction === 'maximize' ? -t.values[i] : t.values[i])));
  const dominates = (a, b) => {
    let strictly = false;
    for (let k = 0; k < a.length; k++) {
      if (a[k] > b[k]) return false;
      if (a[k] < b[k]) strictly = true;
    }
    return strictly;
  };
  const front = new Set();
  for (let i = 0; i < mins.length; i++) {
    let dominated = false;
    for (let j = 0; j < mins.length && !dominated; j++) dominated = j !== i && dominates(mins[j], mins[i]);
    if (!dominated) front.add(ts[i].number);
  }
  return front;
}

async function refreshFronts(gen) {
  const objs = objectives();
  if (!objs.length) return;
  const pair = state.ix === state.iy ? [objs[state.ix].name] : [objs[Math.min(state.ix, state.iy)].name, objs[Math.max(state.ix, state.iy)].name];
  const p = await source.pareto(state.name, pair);
  if (gen !== state.generation) return;
  state.pairFront = p;
  state.allFront = paretoSetAll();
}

async function openStudy(name) {
  const gen = ++state.generation;
  clearTimeout(state.pollTimer);
  Object.assign(state, { name, study: null, trials: new Map(), selected: null, detail: null, pairFront: { trials: [] }, allFront: new Set() });
  delete document.body.dataset.ready;
  showError('');
  const summary = state.studies.find((s) => s.name === name);
  const total = summary ? Object.values(summary.counts ?? {}).reduce((a, b) => a + b, 0) : 0;
  showLoading(`Loading ${total} trials…`);
  try {
    const { study } = await source.study(name);
    if (gen !== state.generation) return;
    state.study = study;
    const k = study.objectives.length;
    state.ix = 0;
    state.iy = k > 1 ? 1 : 0;
    state.historyObjective = 0;
    const trials = await loadTrials(name, gen, null, (n) => showLoading(`Loading ${total} trials… ${n} received`));
    if (!trials) return;
    for (const t of trials) state.trials.set(t.number, t);
    await refreshFronts(gen);
    if (gen !== state.generation) return;
    showLoading('');
    $('content').hidden = false;
    fillObjectiveSelectors();
    renderAll();
    setUrl();
    document.body.dataset.ready = 'true';
    const wanted = Number(params.get('trial'));
    if (params.has('trial') && state.trials.has(wanted) && name === params.get('study')) await selectTrial(wanted);
  } catch (e) {
    if (gen !== state.generation) return;
    showLoading('');
    showError(`Could not load study ${name}: ${e.message}`);
  } finally {
    if (gen === state.generation) schedulePoll();
  }
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (!source.live) return;
  state.pollTimer = setTimeout(poll, POLL_MS);
}

/** Fetch trials past the last one seen, and again those still RUNNING or WAITING. */
async function poll() {
  const gen = state.generation;
  const name = state.name;
  try {
    if (++state.polls % 5 === 0) {
      const { studies } = await source.studies();
      if (gen !== state.generation) return;
      if (studies.map((s) => s.name).join('\n') !== state.studies.map((s) => s.name).join('\n')) {
        state.studies = studies;
        fillStudyPicker();
      }
    }
    const all = sortedTrials();
    const unfinished = all.filter((t) => t.state === 'RUNNING' || t.state === 'WAITING').map((t) => t.number);
    const last = all.length ? all[all.length - 1].number : null;
    const cursor = unfinished.length ? Math.min(...unfinished) - 1 : last;
    const fresh = await loadTrials(name, gen, cursor !== null && cursor >= 0 ? cursor : null);
    if (!fresh) return;
    let changed = false;
    for (const t of fresh) {
      const old = state.trials.get(t.number);
      if (!old || old.state !== t.state || old.intermediate?.length !== t.intermediate?.length || JSON.stringify(old.values) !== JSON.stringify(t.values)) changed = true;
      state.trials.set(t.number, t);
    }
    if (changed) {
      const { study } = await source.study(name);
      if (gen !== state.generation) return;
      state.study = study;
      await refreshFronts(gen);
      if (gen !== state.generation) return;
      renderAll();
      if (state.selected !== null && fresh.some((t) => t.number === state.selected)) await selectTrial(state.selected);
    }
    const live = $('live');
    live.hidden = false;
    live.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
    showError('');
  } catch (e) {
    if (gen === state.generation) showError(`Live update failed (retrying): ${e.message}`);
  } finally {
    if (gen === state.generation) schedulePoll();
  }
}

// ---- controls ----

function fillStudyPicker() {
  const sel = $('study');
  sel.innerHTML = state.studies
    .map((s) => {
      const n = Object.values(s.counts ?? {}).reduce((a, b) => a + b, 0);
      return `<option value="${esc(s.name)}">${esc(s.name)} — ${esc(s.optimizer)}, ${n} trials</option>`;
    })
    .join('');
  if (state.name) sel.value = state.name;
}

function fillObjectiveSelectors() {
  const opts = objectives().map((o, i) => `<option value="${i}">${esc(o.name)} (${arrow(o)})</option>`).join('');
  for (const [id, v] of [['obj-x', state.ix], ['obj-y', state.iy], ['history-objective', state.historyObjective]]) {
    $(id).innerHTML = opts;
    $(id).value = String(v);
  }
}

async function changePair() {
  state.ix = Number($('obj-x').value);
  state.iy = Number($('obj-y').value);
  try {
    await refreshFronts(state.generation);
  } catch (e) {
    showError(`Could not compute the Pareto front: ${e.message}`);
  }
  renderPareto();
}

// ---- rendering ----

function renderAll() {
  renderSummary();
  renderPareto();
  renderMatrix();
  renderHistory();
  renderTable();
}

function renderSummary() {
  const s = state.study;
  const counts = state.studies.find((x) => x.name === s.name)?.counts ?? {};
  const live = {};
  for (const t of state.trials.values()) live[t.state] = (live[t.state] ?? 0) + 1;
  const shown = Object.keys(live).length ? live : counts;
  const attrs = s.attrs ?? {};
  const facts = [
    ['optimizer', s.optimizer],
    ['backend', s.backend],
    ['seed', s.seed],
    ['created', s.created],
    ['trials', Object.entries(shown).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ') || 'none yet'],
  ];
  if (typeof attrs.seconds === 'number') facts.push(['elapsed', `${attrs.seconds.toFixed(1)} s`]);
  if (typeof attrs.evaluations === 'number') facts.push(['evaluations', attrs.evaluations]);
  const notes = (s.notes ?? []).map((n) => `<li><span class="muted">${esc(n.created)}</span> ${esc(n.text)}</li>`).join('');
  $('summary').innerHTML = `
    <h2>${esc(s.name)}</h2>
    <dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>
    <p class="muted">objectives: ${s.objectives.map((o) => `${esc(o.name)} (${arrow(o)})`).join(', ')}</p>
    ${notes ? `<details><summary>notes</summary><ul class="notes">${notes}</ul></details>` : ''}
    <details><summary>study attributes</summary><pre>${esc(JSON.stringify(attrs, null, 1))}</pre></details>
    <details><summary>config</summary><pre>${esc(JSON.stringify(s.config, null, 1))}</pre></details>`;
}

function renderPareto() {
  const objs = objectives();
  const div = $('pareto-plot');
  if (!objs.length) return;
  const { ix, iy } = state;
  const ox = objs[ix];
  const oy = objs[iy];
  const same = ix === iy;
  const xOf = (t) => (same ? t.number : t.values[ix]);
  const points = completed().filter((t) => finite(t, ix) && finite(t, iy));
  const onFront = new Set(state.pairFront.trials ?? []);
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
  // MAP: the front its surrogates predicted, and each evaluated front point's prediction joined to
  // what was measured.
  const mapFront = state.study.attrs?.map_front;
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
    const xs = [];
    const ys = [];
    for (const t of withPrediction) xs.push(t.attrs.predicted[ix], t.values[ix], null), ys.push(t.attrs.predicted[iy], t.values[iy], null);
    data.push({ type: 'scatter', mode: 'lines', name: 'predicted → measured', x: xs, y: ys, line: { color: COLORS.predicted, width: 1, dash: 'dot' }, hoverinfo: 'skip' });
  }
  const sel = state.selected !== null ? state.trials.get(state.selected) : null;
  if (sel && sel.state === 'COMPLETE' && finite(sel, ix) && finite(sel, iy)) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: `trial ${sel.number}`,
      x: [xOf(sel)],
      y: [sel.values[iy]],
      customdata: [sel.number],
      marker: { color: 'rgba(0,0,0,0)', size: 18, line: { color: COLORS.selected, width: 2.5 } },
      hovertemplate: hover,
    });
  }
  draw(
    div,
    data,
    {
      height: 460,
      uirevision: `${state.name}:${ix}:${iy}`,
      xaxis: { title: { text: same ? 'trial' : axisTitle(ox) }, zeroline: false },
      yaxis: { title: { text: axisTitle(oy) }, zeroline: false },
    },
    true,
  );
  const hv = state.pairFront.hypervolume;
  $('pareto-note').textContent =
    `${front.length} of ${points.length} completed trials on the front` + (typeof hv === 'number' && !same ? ` · hypervolume ${fmt(hv)}` : '');
}

function renderMatrix() {
  const objs = objectives();
  const section = $('matrix-section');
  section.hidden = objs.length <= 2;
  if (objs.length <= 2) return;
  const points = completed().filter((t) => objs.every((_, i) => finite(t, i)));
  const onFront = points.map((t) => state.allFront.has(t.number));
  const side = Math.min(1100, 130 * objs.length + 80);
  draw(
    $('matrix-plot'),
    [
      {
        type: 'splom',
        name: 'trials',
        dimensions: objs.map((o, i) => ({ label: esc(o.name), values: points.map((t) => t.values[i]) })),
        customdata: points.map((t) => t.number),
        text: points.map((t) => `trial ${t.number}${state.allFront.has(t.number) ? ' (Pareto set)' : ''}`),
        marker: {
          color: onFront.map((f) => (f ? COLORS.front : COLORS.dominated)),
          size: onFront.map((f) => (f ? 7 : 5)),
        },
        showupperhalf: false,
        diagonal: { visible: false },
        hovertemplate: '%{text}<br>%{xaxis.title.text} %{x}<br>%{yaxis.title.text} %{y}<extra></extra>',
      },
    ],
    { height: side, uirevision: state.name, dragmode: 'select', margin: { l: 80, r: 24, t: 24, b: 80 } },
    true,
  );
}

function renderHistory() {
  const objs = objectives();
  if (!objs.length) return;
  const i = state.historyObjective;
  const o = objs[i];
  const ts = completed().filter((t) => finite(t, i));
  let best = null;
  const bestY = ts.map((t) => (best = best === null || better(o, t.values[i], best) ? t.values[i] : best));
  draw(
    $('history-plot'),
    [
      {
        type: 'scatter',
        mode: 'markers',
        name: o.name,
        x: ts.map((t) => t.number),
        y: ts.map((t) => t.values[i]),
        customdata: ts.map((t) => t.number),
        marker: { color: COLORS.history, size: 6 },
        hovertemplate: `trial %{x}<br>${esc(o.name)} %{y}<extra></extra>`,
      },
      { type: 'scatter', mode: 'lines', name: 'best so far', x: ts.map((t) => t.number), y: bestY, line: { color: COLORS.best, shape: 'hv', width: 2 }, hoverinfo: 'skip' },
    ],
    { height: 320, uirevision: `${state.name}:${i}`, xaxis: { title: { text: 'trial' } }, yaxis: { title: { text: axisTitle(o) } } },
    true,
  );
}

// ---- the trial table ----

function sortValue(t, key) {
  if (key === 'number') return t.number;
  if (key === 'state') return t.state;
  if (key === 'seconds') return seconds(t);
  if (key.startsWith('v')) {
    const i = Number(key.slice(1));
    return finite(t, i) ? t.values[i] : null;
  }
  return null;
}

/** Numbers compare as numbers, text as text; empty cells sort last whichever the direction. */
function compareBy(key, dir) {
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

function renderTable() {
  const objs = objectives();
  const { key, dir } = state.sort;
  const mark = (k) => (k === key ? (dir > 0 ? ' ▲' : ' ▼') : '');
  const cols = [
    ['number', 'trial'],
    ['state', 'state'],
    ...objs.map((o, i) => [`v${i}`, `${o.name} ${o.direction === 'maximize' ? '↑' : '↓'}`]),
    ['seconds', 'seconds'],
  ];
  $('trial-table').tHead.innerHTML =
    `<tr>${cols.map(([k, label]) => `<th data-key="${k}" class="sortable${k === 'state' ? ' text' : ''}${k === key ? ' sorted' : ''}" title="sort by ${esc(label)}">${esc(label)}${mark(k)}</th>`).join('')}<th class="text">note</th></tr>`;
  let rows = sortedTrials();
  if (state.stateFilter) rows = rows.filter((t) => t.state === state.stateFilter);
  if (state.bestOnly) rows = rows.filter((t) => state.allFront.has(t.number));
  rows.sort(compareBy(key, dir));
  const total = rows.length;
  rows = rows.slice(0, MAX_ROWS);
  $('trial-table').tBodies[0].innerHTML = rows
    .map((t) => {
      const note = t.error ?? (t.retryOf !== null && t.retryOf !== undefined ? `retry of ${t.retryOf}` : '');
      const cls = [t.number === state.selected ? 'selected' : '', state.allFront.has(t.number) ? 'front' : '', `state-${t.state}`].join(' ');
      return (
        `<tr data-number="${t.number}" class="${cls}"><td class="num">${t.number}</td><td>${esc(t.state)}</td>` +
        objs.map((_, i) => `<td class="num">${finite(t, i) ? fmt(t.values[i]) : ''}</td>`).join('') +
        `<td class="num">${seconds(t) === null ? '' : seconds(t).toFixed(2)}</td><td class="note" title="${esc(note)}">${esc(note)}</td></tr>`
      );
    })
    .join('');
  $('table-note').textContent = total > MAX_ROWS ? `showing ${MAX_ROWS} of ${total} rows` : `${total} rows`;
}

// ---- the selected trial ----

async function selectTrial(number) {
  const gen = state.generation;
  state.selected = number;
  setUrl();
  renderTable();
  renderPareto();
  $('detail').dataset.loading = 'true';
  try {
    const { trial } = await source.trial(state.name, number);
    if (gen !== state.generation || state.selected !== number) return;
    state.detail = trial;
    renderDetail();
  } catch (e) {
    showError(`Could not load trial ${number}: ${e.message}`);
  } finally {
    delete $('detail').dataset.loading;
  }
}

function paramBounds(param) {
  const p = state.study.config?.identity?.space?.parameters?.[param];
  return p && typeof p.low === 'number' && typeof p.high === 'number' ? p : null;
}

function renderDetail() {
  const t = state.detail;
  const objs = objectives();
  $('detail-empty').hidden = true;
  $('detail-body').hidden = false;
  $('detail-title').textContent = `Trial ${t.number} — ${t.state}${state.allFront.has(t.number) ? ' · on the Pareto front' : ''}`;
  const rows = objs.map((o, i) => `<tr><th>${esc(o.name)} <span class="muted">${arrow(o)}</span></th><td class="num">${finite(t, i) ? fmt(t.values[i]) : '—'}</td></tr>`);
  const sec = seconds(t);
  if (sec !== null) rows.push(`<tr><th>seconds</th><td class="num">${sec.toFixed(2)}</td></tr>`);
  $('detail-values').innerHTML = rows.join('');
  const meta = [];
  if (t.error) meta.push(`<p class="error-text">${esc(t.error)}</p>`);
  if (t.worker) meta.push(`<p><span class="muted">worker</span> ${esc(t.worker)}</p>`);
  if (t.retryOf !== null && t.retryOf !== undefined) meta.push(`<p><span class="muted">retry of trial</span> ${t.retryOf}</p>`);
  const fixed = t.decoded?.fixed;
  if (t.decoded?.method) meta.push(`<p><span class="muted">method</span> ${esc(t.decoded.method)}${fixed && Object.keys(fixed).length ? ` · fixed ${esc(JSON.stringify(fixed))}` : ''}</p>`);
  if (t.attrs && Object.keys(t.attrs).length) meta.push(`<details><summary>attributes</summary><pre>${esc(JSON.stringify(t.attrs, null, 1))}</pre></details>`);
  $('detail-meta').innerHTML = meta.join('');

  // One heatmap per searched parameter: models × units (a global parameter is one row).
  const box = $('heatmaps');
  for (const div of box.querySelectorAll('.plot')) window.Plotly.purge(div);
  box.innerHTML = '';
  for (const [param, c] of Object.entries(t.coefficients ?? {})) {
    const div = document.createElement('div');
    div.className = 'plot heatmap';
    div.id = `heatmap-${param.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    div.dataset.param = param;
    box.appendChild(div);
    const rowsY = c.models ?? [param];
    const bounds = paramBounds(param);
    const longUnits = c.units.some((u) => u.length > 12);
    window.Plotly.newPlot(
      div,
      [
        {
          type: 'heatmap',
          name: param,
          z: c.values,
          x: c.units,
          y: rowsY,
          colorscale: 'Viridis',
          zmin: bounds?.low,
          zmax: bounds?.high,
          texttemplate: c.units.length * rowsY.length <= 120 ? '%{z:.3f}' : '',
          hovertemplate: `${esc(param)}<br>%{y} · %{x}<br>%{z:.4f}<extra></extra>`,
          colorbar: { title: { text: esc(param) } },
        },
      ],
      {
        title: { text: esc(`${param}${bounds ? ` (bounds ${bounds.low} to ${bounds.high})` : ''}`) },
        height: Math.min(640, 140 + 30 * rowsY.length + (longUnits ? 100 : 0)),
        margin: { l: 110, r: 24, t: 40, b: longUnits ? 160 : 48 },
        xaxis: { type: 'category', tickangle: longUnits ? -40 : 0, automargin: true },
        yaxis: { type: 'category', autorange: 'reversed', automargin: true },
      },
      PLOT_CONFIG,
    );
  }
  if (!Object.keys(t.coefficients ?? {}).length) box.innerHTML = '<p class="muted">No coefficients stored for this trial.</p>';

  const inter = $('intermediate-plot');
  const steps = t.intermediate ?? [];
  inter.hidden = steps.length === 0;
  if (steps.length) {
    window.Plotly.newPlot(
      inter,
      [{ type: 'scatter', mode: steps.length > 60 ? 'lines' : 'lines+markers', name: 'intermediate', x: steps.map((s) => s.step), y: steps.map((s) => s.value), line: { color: COLORS.best } }],
      { height: 280, margin: { l: 64, r: 24, t: 40, b: 48 }, title: { text: 'intermediate values (per gradient step)' }, xaxis: { title: { text: 'step' } }, yaxis: { title: { text: 'value' } } },
      PLOT_CONFIG,
    );
  } else if (plotted(inter)) {
    window.Plotly.purge(inter);
  }
  renderExportBox(t);
  $('detail').dataset.trial = String(t.number);
}

function renderExportBox(t) {
  const btn = $('export-btn');
  const input = $('export-out');
  const result = $('export-result');
  result.textContent = '';
  result.className = 'export-result';
  input.value = `${state.name}-trial-${t.number}`;
  if (!source.live) {
    btn.disabled = true;
    input.disabled = true;
    const db = source.db ?? 'STUDIES.db';
    result.innerHTML = `This is a saved report; export from the command line:<br><code>mergesearch export --db ${esc(db)} --study ${esc(state.name)} --trial ${t.number} --out DIR</code>`;
    return;
  }
  const ok = t.state === 'COMPLETE';
  btn.disabled = !ok;
  input.disabled = !ok;
  if (!ok) result.textContent = `Only COMPLETE trials can be exported (this one is ${t.state}).`;
}

async function doExport() {
  const t = state.detail;
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
    const r = await source.exportTrial(state.name, t.number, out);
    result.className = 'export-result ok';
    result.textContent = `Exported trial ${t.number} to ${r.out} in ${Number(r.seconds).toFixed(1)} s: ${(r.files ?? []).join(', ')}`;
  } catch (e) {
    result.className = 'export-result err';
    result.textContent = `Export failed: ${e.message}`;
  } finally {
    btn.disabled = false;
  }
}

// ---- wiring ----

function bind() {
  $('study').addEventListener('change', () => openStudy($('study').value));
  $('obj-x').addEventListener('change', changePair);
  $('obj-y').addEventListener('change', changePair);
  $('history-objective').addEventListener('change', () => {
    state.historyObjective = Number($('history-objective').value);
    renderHistory();
  });
  $('state-filter').addEventListener('change', () => {
    state.stateFilter = $('state-filter').value;
    renderTable();
  });
  $('best-only').addEventListener('change', () => {
    state.bestOnly = $('best-only').checked;
    renderTable();
  });
  $('trial-table').tHead.addEventListener('click', (ev) => {
    const th = ev.target.closest('th[data-key]');
    if (!th) return;
    const key = th.dataset.key;
    // First click on an objective puts its best values on top.
    const first = key.startsWith('v') ? (objectives()[Number(key.slice(1))]?.direction === 'maximize' ? -1 : 1) : 1;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : first };
    renderTable();
  });
  $('trial-table').tBodies[0].addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-number]');
    if (tr) selectTrial(Number(tr.dataset.number));
  });
  $('export-btn').addEventListener('click', doExport);
}

async function start() {
  bind();
  if (!window.Plotly) {
    showError('Plotly did not load (vendor/plotly.min.js); the charts cannot be drawn.');
    return;
  }
  if (!source.live) {
    const note = $('saved-note');
    note.hidden = false;
    note.textContent = `saved report${source.db ? ` of ${source.db}` : ''}`;
  }
  showLoading('Loading studies…');
  try {
    const { studies } = await source.studies();
    state.studies = studies;
  } catch (e) {
    showLoading('');
    showError(`Could not list the studies: ${e.message}`);
    return;
  }
  if (!state.studies.length) {
    showLoading('');
    showError('The database holds no studies yet. Start one with mergesearch search STUDY.yaml.');
    return;
  }
  const wanted = params.get('study');
  state.name = state.studies.some((s) => s.name === wanted) ? wanted : state.studies[0].name;
  fillStudyPicker();
  await openStudy(state.name);
}

start();
