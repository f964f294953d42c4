// The mergesearch report page: plain ES modules, no build step (this file is the entry; the pure
// parts live beside it and have unit tests in test/report-modules.test.ts). It reads a study
// either from the server's JSON API (`mergesearch serve`, polled every 2 s while a search runs)
// or from JSON embedded in the page (`mergesearch report --out report.html`, a self-contained file
// that works from file:// with no network; src/server/report-bundle.ts inlines these modules).
// Every chart is drawn by Plotly (window.Plotly), axes included.
import { exportTrial, showTrial } from './detail.js';
import { $, draw, setHtml, showError, showLoading } from './dom.js';
import { historyFigure, matrixFigure, paretoFigure } from './figures.js';
import { trialTotal } from './format.js';
import { paretoSet } from './front.js';
import { html } from './html.js';
import { compareFigure, importanceFigure, importanceMatrixFigure, parcoordsFigure } from './insights.js';
import { objectiveOptions, recommendHtml, studyOptions, summaryHtml, tableBodyHtml, tableHeadHtml } from './markup.js';
import { apiSource, embeddedSource } from './source.js';
import { nextSort, tableColumns, visibleRows } from './table.js';
import { byNumber, isLive, stateCounts } from './trials.js';

const POLL_MS = 2000;
/** Trials fetched per request while loading a study. */
const PAGE = 1000;
/** Rows drawn in the trial table at most (sorting and filtering see every trial). */
const MAX_ROWS = 1000;

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
  /** The server's analyses (recommendation, importance, compare APIs); null when not loaded. */
  rec: null,
  importance: null,
  compare: null,
  /** The compared curve: 'score' or an objective index. */
  compareSeries: 'score',
};

const objectives = () => state.study?.objectives ?? [];
const allTrials = () => [...state.trials.values()];

function setUrl() {
  const u = new URL(location.href);
  if (u.protocol === 'file:') return; // keep a saved report's address as it is
  if (state.name) u.searchParams.set('study', state.name);
  if (state.selected !== null) u.searchParams.set('trial', String(state.selected));
  else u.searchParams.delete('trial');
  history.replaceState(null, '', u);
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

/** The server's Pareto set of the plotted pair (2-D: fast), and the page's own over every objective. */
async function refreshFronts(gen) {
  const objs = objectives();
  if (!objs.length) return;
  const pair = state.ix === state.iy ? [objs[state.ix].name] : [objs[Math.min(state.ix, state.iy)].name, objs[Math.max(state.ix, state.iy)].name];
  const p = await source.pareto(state.name, pair);
  if (gen !== state.generation) return;
  state.pairFront = p;
  state.allFront = paretoSet(allTrials(), objs);
}

/**
 * The recommendation, parameter importance and comparison of the open study (each null on failure:
 * the rest of the page still works). `all` false: the recommendation only (live updates refresh the
 * costlier two every fifth poll: ranks over every coefficient and the other studies' trials).
 */
async function refreshAnalyses(gen, all = true) {
  const name = state.name;
  const get = (f) => f(name).catch((e) => {
    showError(`Could not load an analysis of ${name}: ${e.message}`);
    return null;
  });
  const [rec, importance, compare] = await Promise.all([get(source.recommendation), all ? get(source.importance) : state.importance, all ? get(source.compare) : state.compare]);
  if (gen !== state.generation) return;
  Object.assign(state, { rec, importance, compare });
}

async function openStudy(name) {
  const gen = ++state.generation;
  clearTimeout(state.pollTimer);
  Object.assign(state, { name, study: null, trials: new Map(), selected: null, detail: null, pairFront: { trials: [] }, allFront: new Set() });
  delete document.body.dataset.ready;
  showError('');
  const summary = state.studies.find((s) => s.name === name);
  const total = summary ? trialTotal(summary.counts) : 0;
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
    await refreshAnalyses(gen);
    if (gen !== state.generation) return;
    showLoading('');
    $('content').hidden = false;
    $('live').hidden = !(source.live && isLive(allTrials(), Date.now()));
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
    const all = byNumber(allTrials());
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
      // All three once nothing is in flight any more, so the page ends on the final numbers.
      const inFlight = allTrials().some((t) => t.state === 'RUNNING' || t.state === 'WAITING');
      await refreshAnalyses(gen, state.polls % 5 === 0 || !inFlight);
      if (gen !== state.generation) return;
      renderAll();
      if (state.selected !== null && fresh.some((t) => t.number === state.selected)) await selectTrial(state.selected);
    }
    // The badge only while the study runs (trials in flight, or one finished moments ago).
    const live = $('live');
    live.hidden = !isLive(allTrials(), Date.now());
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
  setHtml(sel, studyOptions(state.studies));
  if (state.name) sel.value = state.name;
}

function fillObjectiveSelectors() {
  const opts = objectiveOptions(objectives());
  for (const [id, v] of [['obj-x', state.ix], ['obj-y', state.iy], ['history-objective', state.historyObjective]]) {
    setHtml($(id), opts);
    $(id).value = String(v);
  }
  setHtml($('compare-series'), html`<option value="score">${state.rec?.rule?.scale === 'raw' ? 'mean of the objectives' : 'score'} (the recommendation's)</option>${opts}`);
  $('compare-series').value = String(state.compareSeries);
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
  renderRecommendation();
  renderSummary();
  renderPareto();
  renderMatrix();
  renderParcoords();
  renderImportance();
  renderCompare();
  renderHistory();
  renderTable();
}

const baselines = () => state.rec?.baselines ?? null;

function renderRecommendation() {
  const box = $('recommend');
  box.hidden = !state.rec;
  if (state.rec) setHtml(box, recommendHtml(state.rec, objectives()));
}

function renderParcoords() {
  if (!$('parcoords-box').open) return;
  const fig = parcoordsFigure({ study: state.study, trials: allTrials(), coordinates: state.study.attrs?.coordinates ?? state.importance?.coordinates, front: state.allFront });
  draw($('parcoords-plot'), fig);
  $('parcoords-note').textContent = fig.note;
}

function renderImportance() {
  const imp = state.importance;
  const usable = imp && imp.coordinates.length > 0 && imp.score.some((r) => typeof r === 'number');
  $('importance-section').hidden = !usable;
  if (!usable) return;
  draw($('importance-plot'), importanceFigure(imp));
  const many = imp.objectives.length > 1;
  $('importance-matrix').hidden = !many;
  if (many) draw($('importance-matrix'), importanceMatrixFigure(imp));
  $('importance-note').textContent = `Spearman rank correlation of each coefficient with the recommendation's score (bars) and with each objective (grid), over ${imp.trials} completed trials; blue: a larger coefficient goes with a better score`;
}

function renderCompare() {
  const c = state.compare;
  $('compare-section').hidden = !c;
  if (!c) return;
  draw($('compare-plot'), compareFigure({ study: state.study, compare: c, series: state.compareSeries, baselines: baselines() }));
  const others = c.studies.length - 1;
  $('compare-note').textContent = others > 0 ? `best so far of ${c.studies.length} studies with the same objectives on the same benchmark, against the trials each spent; dashed: this study's baselines` : 'no other study with the same objectives on this benchmark in this database; dashed: the baselines';
}

function renderSummary() {
  const s = state.study;
  // Counts from the trials loaded; before any arrive, the study list's.
  const loaded = stateCounts(allTrials());
  const counts = Object.keys(loaded).length ? loaded : (state.studies.find((x) => x.name === s.name)?.counts ?? {});
  setHtml($('summary'), summaryHtml(s, counts));
}

function renderPareto() {
  if (!objectives().length) return;
  const selected = state.selected !== null ? (state.trials.get(state.selected) ?? null) : null;
  const fig = paretoFigure({
    study: state.study,
    trials: allTrials(),
    ix: state.ix,
    iy: state.iy,
    frontNumbers: state.pairFront.trials,
    hypervolume: state.pairFront.hypervolume,
    selected,
    baselines: baselines(),
  });
  draw($('pareto-plot'), fig, selectTrial);
  $('pareto-note').textContent = fig.note;
}

function renderMatrix() {
  const many = objectives().length > 2;
  $('matrix-section').hidden = !many;
  if (many) draw($('matrix-plot'), matrixFigure({ study: state.study, trials: allTrials(), front: state.allFront }), selectTrial);
}

function renderHistory() {
  if (!objectives().length) return;
  draw($('history-plot'), historyFigure({ study: state.study, trials: allTrials(), i: state.historyObjective, baselines: baselines() }), selectTrial);
}

function renderTable() {
  const objs = objectives();
  const table = $('trial-table');
  setHtml(table.tHead, tableHeadHtml(tableColumns(objs), state.sort));
  const { rows, total } = visibleRows(allTrials(), { stateFilter: state.stateFilter, bestOnly: state.bestOnly, front: state.allFront, sort: state.sort, max: MAX_ROWS });
  setHtml(table.tBodies[0], tableBodyHtml(rows, objs, { front: state.allFront, selected: state.selected }));
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
    showTrial(trial, { study: state.study, onFront: state.allFront.has(trial.number), source });
  } catch (e) {
    showError(`Could not load trial ${number}: ${e.message}`);
  } finally {
    delete $('detail').dataset.loading;
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
  $('parcoords-box').addEventListener('toggle', () => {
    if (state.study) renderParcoords();
  });
  $('compare-series').addEventListener('change', () => {
    const v = $('compare-series').value;
    state.compareSeries = v === 'score' ? 'score' : Number(v);
    renderCompare();
  });
  $('recommend').addEventListener('click', (ev) => {
    const b = ev.target.closest('#recommend-show');
    if (b) selectTrial(Number(b.dataset.trial));
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
    state.sort = nextSort(state.sort, th.dataset.key, objectives());
    renderTable();
  });
  $('trial-table').tBodies[0].addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-number]');
    if (tr) selectTrial(Number(tr.dataset.number));
  });
  $('export-btn').addEventListener('click', () => exportTrial(state.detail, state.name, source));
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
    showError('The database holds no studies yet. Start one with npx mergesearch search STUDY.yaml.');
    return;
  }
  const wanted = params.get('study');
  state.name = state.studies.some((s) => s.name === wanted) ? wanted : state.studies[0].name;
  fillStudyPicker();
  await openStudy(state.name);
}

start();
