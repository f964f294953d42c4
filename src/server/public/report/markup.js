// The page's HTML fragments, built from plain data with the escaping `html` tag (no DOM here):
// every value from a study (names, notes, errors, configs) is escaped by the tag.
import { arrow, countsText, fmt, shortArrow, trialTotal } from './format.js';
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
  // The YAML text is shown as such below; the other attributes as JSON.
  const { config_yaml: _yaml, ...shownAttrs } = attrs;
  const yaml = study.yaml;
  return html`
    <h2>${study.name}</h2>
    <dl class="facts">${facts.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
    <p class="muted">objectives: ${study.objectives.map((o, i) => html`${i ? ', ' : ''}${o.name} (${arrow(o)})`)}</p>
    ${notes.length ? html`<details><summary>notes</summary><ul class="notes">${notes}</ul></details>` : ''}
    ${
      yaml
        ? html`<details open class="config"><summary>${yaml.from === 'written' ? 'study config (the YAML as written)' : 'study config (as stored; this study did not keep its YAML file)'}</summary><pre class="yaml">${yaml.text}</pre></details>`
        : html`<p class="muted">no study config stored</p>`
    }
    <details><summary>study attributes</summary><pre>${JSON.stringify(shownAttrs, null, 1)}</pre></details>`;
}

/**
 * The recommended merge (GET /api/studies/NAME/recommendation) beside the baselines, with the rule
 * in words and the export command; `objectives` name the columns.
 */
export function recommendHtml(rec, objectives) {
  if (!rec.recommended) return html`<h2>Recommended merge</h2><p class="muted">No trial has completed yet.</p>`;
  const r = rec.recommended;
  const b = rec.baselines;
  const scoreLabel = rec.rule.scale === 'raw' ? (objectives.length === 1 ? 'value' : 'mean') : 'score';
  const norm = r.normalized !== null && r.normalized !== undefined;
  const cell = (v) => html`<td class="num">${typeof v === 'number' ? fmt(v) : '—'}</td>`;
  const row = (cls, label, values, score, normalized) => html`<tr class="${cls}"><th>${label}</th>${values.map(cell)}${cell(score)}${norm ? cell(normalized) : ''}</tr>`;
  const rows = [row('pick', `recommended: trial ${r.number}`, r.values, r.score, r.normalized)];
  const command = b && b.kind === 'command';
  if (b) {
    const ta = b.taskArithmetic;
    if (ta) rows.push(row('baseline', `task arithmetic, λ ${ta.lambda}${ta.grid.length > 1 ? (command ? ` (best of ${ta.grid.length})` : ' (tuned)') : ''}`, ta.values, b.scores.taskArithmetic, b.normalized.taskArithmetic));
    if (b.base) rows.push(row('baseline', 'base', b.base, b.scores.base, b.normalized.base));
    if (command) (b.expertModels || []).forEach((m, i) => rows.push(row('baseline', `expert ${m.name}`, m.values, b.scores.expertModels[i], null)));
    else rows.push(row('baseline', 'each expert on its own task', b.experts.map((e) => (e ? e.value : null)), b.scores.experts, norm ? 1 : null));
  }
  const baselineText = !b
    ? 'No baselines stored for this study (a study scored by a command scores them only when its config asks, `baselines: true`; or one run before baselines were kept).'
    : command
      ? `Baselines scored with the study's command after the search (${b.evaluations} command runs, ${b.merges || 0} merges)${b.taskArithmetic && b.taskArithmetic.grid.length > 1 ? `; task arithmetic: the best λ of ${b.taskArithmetic.grid.join(', ')}` : ''}.`
      : `Baselines scored on the same samples as the trials: task arithmetic with the best λ of ${b.taskArithmetic.grid[0]} to ${b.taskArithmetic.grid[b.taskArithmetic.grid.length - 1]}.`;
  return html`
    <div class="section-head"><h2>Recommended merge: trial ${r.number}</h2><button id="recommend-show" type="button" data-trial="${r.number}">Show trial ${r.number}</button></div>
    <p class="muted">The ${rec.rule.text}, among ${rec.considered} completed trials. The Pareto set over all ${objectives.length} objectives stays in the table below ("best only").</p>
    <div class="table-wrap"><table class="trials recommend">
      <thead><tr><th class="text"></th>${objectives.map((o) => html`<th>${o.name} ${shortArrow(o)}</th>`)}<th>${scoreLabel}</th>${norm ? html`<th title="mean of value ÷ the expert's value on its own task">normalized</th>` : ''}</tr></thead>
      <tbody>${rows}</tbody>
    </table></div>
    <p class="muted">${baselineText}</p>
    <p>Export it: <code class="command">${rec.exportCommand}</code></p>`;
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
  return html`This is a saved report; export from the command line:<br><code class="command">npx mergesearch export --db ${db} --study ${study} --trial ${trial} --out DIR</code>`;
}

export const NO_COEFFICIENTS = html`<p class="muted">No coefficients stored for this trial.</p>`;
