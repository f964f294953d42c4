// The page's HTML fragments, built from plain data with the escaping `html` tag (no DOM here):
// every value from a study (names, notes, errors, configs) is escaped by the tag.
import { arrow, countsText, fmt, trialTotal } from './format.js';
import { html } from './html.js';
import { hasValue, seconds, trialNote } from './trials.js';

/** The study picker's options. */
export function studyOptions(studies) {
  return html`${studies.map((s) => html`<option value="${s.name}">${s.name} — ${s.optimizer}, ${trialTotal(s.counts)} trials</option>`)}`;
}

/** An objective selector's options, valued by objective index. */
export function objectiveOptions(objectives) {
  return html`${objectives.map((o, i) => html`<option value="${i}">${o.name} (${arrow(o)})</option>`)}`;
}

/** The summary card: name, facts, objectives, notes, attributes and config. `counts`: trials per state. */
export function summaryHtml(study, counts) {
  const attrs = study.attrs ?? {};
  const facts = [
    ['optimizer', study.optimizer],
    ['backend', study.backend],
    ['seed', study.seed],
    ['created', study.created],
    ['trials', countsText(counts)],
  ];
  if (typeof attrs.seconds === 'number') facts.push(['elapsed', `${attrs.seconds.toFixed(1)} s`]);
  if (typeof attrs.evaluations === 'number') facts.push(['evaluations', attrs.evaluations]);
  const notes = (study.notes ?? []).map((n) => html`<li><span class="muted">${n.created}</span> ${n.text}</li>`);
  return html`
    <h2>${study.name}</h2>
    <dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
    <p class="muted">objectives: ${study.objectives.map((o, i) => html`${i ? ', ' : ''}${o.name} (${arrow(o)})`)}</p>
    ${notes.length ? html`<details><summary>notes</summary><ul class="notes">${notes}</ul></details>` : ''}
    <details><summary>study attributes</summary><pre>${JSON.stringify(attrs, null, 1)}</pre></details>
    <details><summary>config</summary><pre>${JSON.stringify(study.config, null, 1)}</pre></details>`;
}

/** The table head: sortable columns (the sorted one marked ▲/▼) and the note column. */
export function tableHeadHtml(columns, sort) {
  const mark = (k) => (k === sort.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : '');
  const cls = (k) => `sortable${k === 'state' ? ' text' : ''}${k === sort.key ? ' sorted' : ''}`;
  return html`<tr>${columns.map(([k, label]) => html`<th data-key="${k}" class="${cls(k)}" title="sort by ${label}">${label}${mark(k)}</th>`)}<th class="text">note</th></tr>`;
}

/** The table body: one row per trial; `front` (trial numbers) and `selected` add row classes. */
export function tableBodyHtml(rows, objectives, { front, selected }) {
  return html`${rows.map((t) => {
    const note = trialNote(t);
    const cls = [t.number === selected ? 'selected' : '', front.has(t.number) ? 'front' : '', `state-${t.state}`].join(' ');
    const sec = seconds(t);
    return html`<tr data-number="${t.number}" class="${cls}"><td class="num">${t.number}</td><td>${t.state}</td>${objectives.map(
      (_, i) => html`<td class="num">${hasValue(t, i) ? fmt(t.values[i]) : ''}</td>`,
    )}<td class="num">${sec === null ? '' : sec.toFixed(2)}</td><td class="note" title="${note}">${note}</td></tr>`;
  })}`;
}

/** The selected trial's objective values (— where missing) and its seconds. */
export function detailValuesHtml(t, objectives) {
  const sec = seconds(t);
  return html`${objectives.map(
    (o, i) => html`<tr><th>${o.name} <span class="muted">${arrow(o)}</span></th><td class="num">${hasValue(t, i) ? fmt(t.values[i]) : '—'}</td></tr>`,
  )}${sec !== null && html`<tr><th>seconds</th><td class="num">${sec.toFixed(2)}</td></tr>`}`;
}

/** The selected trial's error, worker, retry, method and attributes. */
export function detailMetaHtml(t) {
  const fixed = t.decoded?.fixed;
  const hasFixed = fixed && Object.keys(fixed).length > 0;
  return html`${t.error && html`<p class="error-text">${t.error}</p>`}${t.worker && html`<p><span class="muted">worker</span> ${t.worker}</p>`}${
    t.retryOf !== null && t.retryOf !== undefined && html`<p><span class="muted">retry of trial</span> ${t.retryOf}</p>`
  }${t.decoded?.method && html`<p><span class="muted">method</span> ${t.decoded.method}${hasFixed && html` · fixed ${JSON.stringify(fixed)}`}</p>`}${
    t.attrs && Object.keys(t.attrs).length > 0 && html`<details><summary>attributes</summary><pre>${JSON.stringify(t.attrs, null, 1)}</pre></details>`
  }`;
}

/** A saved report cannot export: the command that does. */
export function exportHintHtml(db, study, trial) {
  return html`This is a saved report; export from the command line:<br><code>mergesearch export --db ${db} --study ${study} --trial ${trial} --out DIR</code>`;
}

export const NO_COEFFICIENTS = html`<p class="muted">No coefficients stored for this trial.</p>`;
