// The report page's pure modules (src/server/public/report/*.js: escaping, formatting, trial
// questions, the Pareto set, the table's sort, the HTML fragments, the Plotly figures, the embedded
// data source) on hand-worked examples, and the bundler that inlines them into the saved report.
// The DOM-bound parts (dom.js, detail.js, main.js) are covered by test/report-browser.test.ts in Chromium.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { nonDominatedSort } from '../src/search/pareto.ts';
import { bundleModules } from '../src/server/report-bundle.ts';
import { DEFAULT_PUBLIC_DIR } from '../src/server/static.ts';
import { makeTmp, rng } from './helpers/io-tmp.ts';

const REPORT_DIR = path.join(DEFAULT_PUBLIC_DIR, 'report');

/** A page module. They are plain browser JavaScript with no types, so they come in untyped. */
async function pageModule(name: string): Promise<Record<string, any>> {
  return import(pathToFileURL(path.join(REPORT_DIR, name)).href);
}

const { esc, html, Html } = await pageModule('html.js');
const { fmt, arrow, axisTitle, countsText, trialTotal } = await pageModule('format.js');
const { hasValue, seconds, completed, stateCounts, trialNote } = await pageModule('trials.js');
const { dominates, paretoSet, better, bestSoFar } = await pageModule('front.js');
const { tableColumns, sortValue, compareBy, nextSort, visibleRows } = await pageModule('table.js');
const markup = await pageModule('markup.js');
const figures = await pageModule('figures.js');
const { embeddedSource, paretoKey } = await pageModule('source.js');

const ACC = { name: 'acc', direction: 'maximize' };
const LOSS = { name: 'loss', direction: 'minimize' };
const done = (number: number, values: Array<number | null>, extra: object = {}) => ({ number, state: 'COMPLETE', values, attrs: {}, ...extra });

describe('html.js: one escaping helper', () => {
  it('esc replaces the five HTML-special characters and nothing else', () => {
    expect(esc(`<a href="x">Tom & Jerry's</a>`)).toBe('&lt;a href=&#34;x&#34;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
    expect(esc('plain — ü 1.5')).toBe('plain — ü 1.5');
    expect(esc(0)).toBe('0');
  });

  it('the html tag escapes values, passes nested fragments through, joins arrays and drops null/undefined/false', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const h = html`<p title="${evil}">${evil}${html`<b>${'a&b'}</b>`}${[1, html`<i>2</i>`, '<3']}${null}${undefined}${false}${0}</p>`;
    expect(h).toBeInstanceOf(Html);
    expect(String(h)).toBe('<p title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;<b>a&amp;b</b>1<i>2</i>&lt;30</p>');
  });
});

describe('format.js', () => {
  it('fmt: 4 decimals below 100, 1 from 100, exponent below 1e-3 and from 1e5; text and non-finite as they are', () => {
    const cases: Array<[unknown, string]> = [
      [null, ''],
      [undefined, ''],
      ['abc', 'abc'],
      [Number.NaN, 'NaN'],
      [-Infinity, '-Infinity'],
      [0, '0.0000'],
      [0.5, '0.5000'],
      [0.001, '0.0010'],
      [0.0005, '5.000e-4'],
      [-12.34567, '-12.3457'],
      [100, '100.0'],
      [-250.04, '-250.0'],
      [99999.9, '99999.9'],
      [100000, '1.000e+5'],
      [123456, '1.235e+5'],
    ];
    for (const [v, want] of cases) expect(fmt(v), String(v)).toBe(want);
  });

  it('arrow, axisTitle (escaped for Plotly), countsText and trialTotal', () => {
    expect(arrow(ACC)).toBe('↑ max');
    expect(arrow(LOSS)).toBe('↓ min');
    expect(axisTitle({ name: 'a<b>&', direction: 'minimize' })).toBe('a&lt;b&gt;&amp; (↓ min)');
    expect(countsText({ COMPLETE: 3, FAIL: 0, RUNNING: 1 })).toBe('3 COMPLETE, 1 RUNNING');
    expect(countsText({ FAIL: 0 })).toBe('none yet');
    expect(trialTotal({ COMPLETE: 3, FAIL: 2, RUNNING: 0 })).toBe(5);
    expect(trialTotal(undefined)).toBe(0);
  });
});

describe('trials.js', () => {
  it('hasValue, seconds, completed, stateCounts and trialNote', () => {
    const t = { number: 4, state: 'COMPLETE', values: [0.5, null, Number.NaN, 'x'], attrs: {}, started: 1000, finished: 3500 };
    expect([0, 1, 2, 3, 4].map((i) => hasValue(t, i))).toEqual([true, false, false, false, false]);
    expect(hasValue({ values: null }, 0)).toBe(false);
    // (3500 − 1000) ms; the optimizer's own attribute wins; unfinished: none.
    expect(seconds(t)).toBe(2.5);
    expect(seconds({ ...t, attrs: { seconds: 7 } })).toBe(7);
    expect(seconds({ ...t, finished: null })).toBeNull();
    const trials = [done(3, [1]), { number: 1, state: 'FAIL', values: null }, done(0, [2]), { number: 2, state: 'COMPLETE', values: null }];
    expect(completed(trials).map((x: { number: number }) => x.number)).toEqual([0, 3]);
    expect(stateCounts(trials)).toEqual({ COMPLETE: 3, FAIL: 1 });
    expect(trialNote({ error: 'boom', retryOf: 2 })).toBe('boom');
    expect(trialNote({ error: null, retryOf: 0 })).toBe('retry of 0');
    expect(trialNote({ error: null, retryOf: null })).toBe('');
  });
});

describe('front.js', () => {
  it('dominates: nowhere worse and somewhere better (minimisation)', () => {
    expect(dominates([1, 2], [1, 3])).toBe(true);
    expect(dominates([1, 3], [1, 2])).toBe(false);
    expect(dominates([1, 2], [1, 2])).toBe(false); // equal points do not dominate each other
    expect(dominates([0, 5], [1, 2])).toBe(false);
  });

  it('paretoSet on a hand-worked example: maximised accuracy, minimised loss', () => {
    const trials = [
      done(0, [0.9, 0.5]),
      done(1, [0.8, 0.3]), // dominated by 6 (higher accuracy, same loss)
      done(2, [0.7, 0.6]), // dominated by 0
      done(3, [0.9, 0.5]), // a duplicate of 0: both stay
      done(4, [0.95, null]), // no loss: left out
      { number: 5, state: 'FAIL', values: [1, 0] }, // not COMPLETE: left out
      done(6, [0.85, 0.3]),
    ];
    expect([...paretoSet(trials, [ACC, LOSS])].sort((a, b) => a - b)).toEqual([0, 3, 6]);
    // On accuracy alone trial 4 counts (its missing loss does not matter) and beats every other; the FAIL trial's 1 is not looked at.
    expect([...paretoSet(trials, [ACC])]).toEqual([4]);
  });

  it("paretoSet agrees with the optimizer's non-dominated sort (a different algorithm) on random studies", () => {
    const next = rng(20261202);
    for (let round = 0; round < 20; round++) {
      const k = 2 + (round % 3);
      const objs = Array.from({ length: k }, (_, i) => ({ name: `o${i}`, direction: i % 2 ? 'minimize' : 'maximize' }));
      // Values on a coarse grid, so that ties and duplicates happen.
      const trials = Array.from({ length: 25 }, (_, n) => done(n, objs.map(() => Math.round(next() * 5) / 5)));
      const mins = trials.map((t) => t.values.map((v, i) => (objs[i]!.direction === 'maximize' ? -v! : v!)));
      const want = nonDominatedSort(mins)[0]!.map((i) => trials[i]!.number);
      expect([...paretoSet(trials, objs)].sort((a, b) => a - b), `round ${round}`).toEqual(want);
    }
  });

  it('better and bestSoFar follow the direction', () => {
    expect(better(ACC, 2, 1)).toBe(true);
    expect(better(LOSS, 2, 1)).toBe(false);
    expect(better(LOSS, 1, 1)).toBe(false);
    expect(bestSoFar(LOSS, [3, 1, 2, 0.5, 0.7])).toEqual([3, 1, 1, 0.5, 0.5]);
    expect(bestSoFar(ACC, [1, 3, 2, 4])).toEqual([1, 3, 3, 4]);
    expect(bestSoFar(ACC, [])).toEqual([]);
  });
});

describe('table.js', () => {
  // v0 of trial 1 is missing (a failed trial); 10 must sort after 2 (numbers, not text).
  const trials = [
    done(0, [0.5, 2], { started: 0, finished: 1500 }),
    { number: 1, state: 'FAIL', values: null, attrs: {}, error: 'x' },
    done(2, [0.9, 10]),
    done(3, [0.1, 2]),
    done(10, [10, 1]),
  ];
  const order = (key: string, dir: number) => [...trials].sort(compareBy(key, dir)).map((t) => t.number);

  it('columns: trial, state, one per objective with its arrow, seconds', () => {
    expect(tableColumns([ACC, LOSS])).toEqual([
      ['number', 'trial'],
      ['state', 'state'],
      ['v0', 'acc ↑'],
      ['v1', 'loss ↓'],
      ['seconds', 'seconds'],
    ]);
  });

  it('sortValue and compareBy: numbers as numbers, empty cells last in both directions, ties by trial number', () => {
    expect(sortValue(trials[0], 'seconds')).toBe(1.5);
    expect(sortValue(trials[1], 'v0')).toBeNull();
    expect(sortValue(trials[4], 'v0')).toBe(10);
    expect(order('v0', 1)).toEqual([3, 0, 2, 10, 1]);
    expect(order('v0', -1)).toEqual([10, 2, 0, 3, 1]);
    // loss: 3 and 0 tie at 2, kept in trial order both ways.
    expect(order('v1', 1)).toEqual([10, 0, 3, 2, 1]);
    expect(order('v1', -1)).toEqual([2, 0, 3, 10, 1]);
    expect(order('state', 1)).toEqual([0, 2, 3, 10, 1]); // COMPLETE < FAIL
    expect(order('number', -1)).toEqual([10, 3, 2, 1, 0]);
    // Only trial 0 has seconds; the rest are empty and stay in number order.
    expect(order('seconds', -1)).toEqual([0, 1, 2, 3, 10]);
  });

  it("nextSort: the same column flips; a maximised objective's first click is descending", () => {
    const objs = [ACC, LOSS];
    expect(nextSort({ key: 'number', dir: 1 }, 'number', objs)).toEqual({ key: 'number', dir: -1 });
    expect(nextSort({ key: 'number', dir: 1 }, 'v0', objs)).toEqual({ key: 'v0', dir: -1 });
    expect(nextSort({ key: 'v0', dir: -1 }, 'v0', objs)).toEqual({ key: 'v0', dir: 1 });
    expect(nextSort({ key: 'v0', dir: -1 }, 'v1', objs)).toEqual({ key: 'v1', dir: 1 });
    expect(nextSort({ key: 'v0', dir: -1 }, 'state', objs)).toEqual({ key: 'state', dir: 1 });
  });

  it('visibleRows filters by state and by the Pareto set, sorts, cuts at max and counts before the cut', () => {
    const base = { stateFilter: '', bestOnly: false, front: new Set([2, 10]), sort: { key: 'v0', dir: -1 }, max: 3 };
    const nums = (r: { rows: Array<{ number: number }>; total: number }) => [r.rows.map((t) => t.number), r.total];
    expect(nums(visibleRows(trials, base))).toEqual([[10, 2, 0], 5]);
    expect(nums(visibleRows(trials, { ...base, stateFilter: 'FAIL' }))).toEqual([[1], 1]);
    expect(nums(visibleRows(trials, { ...base, bestOnly: true, sort: { key: 'number', dir: 1 } }))).toEqual([[2, 10], 2]);
  });
});

describe('markup.js: the HTML fragments escape what a study holds', () => {
  const EVIL = '<img src=x onerror=alert(1)>';

  it('objective and study options', () => {
    expect(String(markup.objectiveOptions([ACC, { name: EVIL, direction: 'minimize' }]))).toBe(
      '<option value="0">acc (↑ max)</option><option value="1">&lt;img src=x onerror=alert(1)&gt; (↓ min)</option>',
    );
    expect(String(markup.studyOptions([{ name: 'a"b', optimizer: 'nsga2', counts: { COMPLETE: 2, FAIL: 1 } }]))).toBe(
      '<option value="a&#34;b">a&#34;b — nsga2, 3 trials</option>',
    );
  });

  it('table head and body rows', () => {
    expect(String(markup.tableHeadHtml([['number', 'trial'], ['state', 'state'], ['v0', `${EVIL} ↑`]], { key: 'v0', dir: -1 }))).toBe(
      '<tr><th data-key="number" class="sortable" title="sort by trial">trial</th>' +
        '<th data-key="state" class="sortable text" title="sort by state">state</th>' +
        '<th data-key="v0" class="sortable sorted" title="sort by &lt;img src=x onerror=alert(1)&gt; ↑">&lt;img src=x onerror=alert(1)&gt; ↑ ▼</th>' +
        '<th class="text">note</th></tr>',
    );
    const rows = [{ number: 7, state: 'FAIL', values: null, attrs: { seconds: 1.234 }, error: EVIL }, done(8, [0.123456])];
    expect(String(markup.tableBodyHtml(rows, [ACC], { front: new Set([8]), selected: 7 }))).toBe(
      '<tr data-number="7" class="selected  state-FAIL"><td class="num">7</td><td>FAIL</td><td class="num"></td><td class="num">1.23</td>' +
        '<td class="note" title="&lt;img src=x onerror=alert(1)&gt;">&lt;img src=x onerror=alert(1)&gt;</td></tr>' +
        '<tr data-number="8" class=" front state-COMPLETE"><td class="num">8</td><td>COMPLETE</td><td class="num">0.1235</td><td class="num"></td>' +
        '<td class="note" title=""></td></tr>',
    );
  });

  it('summary, trial details and the export hint', () => {
    const study = {
      name: `</h2>${EVIL}`,
      optimizer: 'cmaes',
      backend: 'cpu',
      seed: 0,
      created: '2026-12-02',
      objectives: [ACC, LOSS],
      notes: [{ created: 'today', text: EVIL }],
      attrs: { seconds: 12.34 },
      config: { name: EVIL },
      yaml: { text: `name: x # ${EVIL}\nseed: 0\n`, from: 'written' },
    };
    const summary = String(markup.summaryHtml(study, { COMPLETE: 2 }));
    expect(summary).not.toContain('<img');
    expect(summary).not.toContain('</h2><');
    expect(summary).toContain('<h2>&lt;/h2&gt;&lt;img src=x onerror=alert(1)&gt;</h2>');
    expect(summary).toContain('<dt>seed</dt><dd>0</dd>');
    expect(summary).toContain('<dt>trials</dt><dd>2 COMPLETE</dd><dt>elapsed</dt><dd>12.3 s</dd>');
    expect(summary).toContain('<p class="muted">objectives: acc (↑ max), loss (↓ min)</p>');
    expect(summary).toContain('<li><span class="muted">today</span> &lt;img src=x onerror=alert(1)&gt;</li>');
    // The YAML as the user wrote it (escaped), not the normalised JSON.
    expect(summary).toContain('<summary>study config (the YAML as written)</summary><pre class="yaml">name: x # &lt;img src=x onerror=alert(1)&gt;\nseed: 0\n</pre>');
    expect(summary).not.toContain('&#34;name&#34;');
    expect(String(markup.summaryHtml({ ...study, yaml: { text: 'a: 1\n', from: 'stored' } }, {}))).toContain('study config (as stored; this study did not keep its YAML file)');
    expect(String(markup.summaryHtml({ ...study, yaml: null }, {}))).toContain('no study config stored');
    // No notes: no notes box.
    expect(String(markup.summaryHtml({ ...study, notes: [] }, {}))).not.toContain('<summary>notes</summary>');

    const t = { number: 3, state: 'COMPLETE', values: [0.5, null], attrs: {}, started: 0, finished: 2000, worker: EVIL, retryOf: 0, error: null, decoded: { method: 'ties', fixed: { k: 0.2 } } };
    expect(String(markup.detailValuesHtml(t, [ACC, LOSS]))).toBe(
      '<tr><th>acc <span class="muted">↑ max</span></th><td class="num">0.5000</td></tr>' +
        '<tr><th>loss <span class="muted">↓ min</span></th><td class="num">—</td></tr>' +
        '<tr><th>seconds</th><td class="num">2.00</td></tr>',
    );
    expect(String(markup.detailMetaHtml(t))).toBe(
      '<p><span class="muted">worker</span> &lt;img src=x onerror=alert(1)&gt;</p>' +
        '<p><span class="muted">retry of trial</span> 0</p>' +
        '<p><span class="muted">method</span> ties · fixed {&#34;k&#34;:0.2}</p>',
    );
    expect(String(markup.exportHintHtml('a&b.db', 's<1>', 4))).toBe(
      'This is a saved report; export from the command line:<br><code class="command">npx mergesearch export --db a&amp;b.db --study s&lt;1&gt; --trial 4 --out DIR</code>',
    );
  });
});

describe('figures.js: the Plotly figures as data', () => {
  const study = { name: 's', objectives: [ACC, LOSS], attrs: { map_front: { predicted: [[0.7, 0.2], [0.6, 0.1], [Number.NaN, 0.3]] } } };
  const trials = [
    done(0, [0.9, 0.5]),
    done(1, [0.8, 0.3], { attrs: { predicted: [0.82, 0.28] } }),
    done(2, [0.7, 0.6]),
    { number: 3, state: 'FAIL', values: null, attrs: {} },
  ];
  const byName = (data: Array<{ name: string }>, name: string) => data.find((d) => d.name === name) as Record<string, unknown>;

  it('paretoFigure: dominated points, the front line sorted by x, MAP predictions, the selected ring and the note', () => {
    const fig = figures.paretoFigure({ study, trials, ix: 0, iy: 1, frontNumbers: [0, 1], hypervolume: 0.123456, selected: trials[2] });
    expect(fig.data.map((d: { name: string }) => d.name)).toEqual(['dominated', 'Pareto set', 'front', 'MAP predicted front', 'predicted → measured', 'trial 2']);
    expect(byName(fig.data, 'dominated')).toMatchObject({ x: [0.7], y: [0.6], customdata: [2] });
    expect(byName(fig.data, 'Pareto set')).toMatchObject({ x: [0.9, 0.8], y: [0.5, 0.3], customdata: [0, 1] });
    expect(byName(fig.data, 'front')).toMatchObject({ x: [0.8, 0.9], y: [0.3, 0.5], customdata: [1, 0] });
    // The NaN prediction is dropped; the rest sorted by x.
    expect(byName(fig.data, 'MAP predicted front')).toMatchObject({ x: [0.6, 0.7], y: [0.1, 0.2] });
    expect(byName(fig.data, 'predicted → measured')).toMatchObject({ x: [0.82, 0.8, null], y: [0.28, 0.3, null] });
    expect(byName(fig.data, 'trial 2')).toMatchObject({ x: [0.7], y: [0.6], customdata: [2] });
    expect(fig.layout.xaxis.title.text).toBe('acc (↑ max)');
    expect(fig.layout.uirevision).toBe('s:0:1');
    expect(fig.note).toBe('2 of 3 completed trials on the front of this pair only · hypervolume 0.1235');
  });

  it('paretoFigure with one objective on both axes: x is the trial number, no MAP traces, no hypervolume', () => {
    const fig = figures.paretoFigure({ study, trials, ix: 1, iy: 1, frontNumbers: [1], hypervolume: 5, selected: null });
    expect(fig.data.map((d: { name: string }) => d.name)).toEqual(['dominated', 'Pareto set', 'front']);
    expect(byName(fig.data, 'dominated')).toMatchObject({ x: [0, 2], y: [0.5, 0.6] });
    expect(fig.layout.xaxis.title.text).toBe('trial');
    expect(fig.note).toBe('1 of 3 completed trials on the front of this objective alone');
  });

  it('objective names are escaped in every Plotly title, label and hover template', () => {
    const evil = { name: '<a href="http://e/">x</a>', objectives: [{ name: '<b>b</b>', direction: 'maximize' }, LOSS], attrs: {} };
    const pareto = figures.paretoFigure({ study: evil, trials, ix: 0, iy: 1, frontNumbers: [], hypervolume: null, selected: null });
    const hist = figures.historyFigure({ study: evil, trials, i: 0 });
    const matrix = figures.matrixFigure({ study: evil, trials, front: new Set() });
    // The history trace's name shows in the legend, which renders the same HTML subset.
    const texts = [JSON.stringify(pareto), JSON.stringify(hist), JSON.stringify(matrix.data[0].dimensions)].join(' ');
    expect(texts).not.toContain('<b>');
    expect(texts).toContain('&lt;b&gt;b&lt;/b&gt;');
  });

  it('historyFigure: every completed value and the best so far; matrixFigure marks the Pareto set', () => {
    const hist = figures.historyFigure({ study, trials, i: 1 });
    expect(hist.data[0]).toMatchObject({ x: [0, 1, 2], y: [0.5, 0.3, 0.6], customdata: [0, 1, 2] });
    expect(hist.data[1]).toMatchObject({ name: 'best so far', x: [0, 1, 2], y: [0.5, 0.3, 0.3] });
    expect(hist.layout.yaxis.title.text).toBe('loss (↓ min)');
    const matrix = figures.matrixFigure({ study, trials, front: new Set([1]) });
    expect(matrix.data[0].customdata).toEqual([0, 1, 2]);
    expect(matrix.data[0].marker.size).toEqual([5, 7, 5]);
    expect(matrix.data[0].text).toEqual(['trial 0', 'trial 1 (Pareto set)', 'trial 2']);
    expect(matrix.layout.height).toBe(2 * 130 + 80);
  });

  it('coefficient tables: bounds, rows (models or the parameter), heights, cell text and the element id', () => {
    const config = { identity: { space: { parameters: { weight: { low: 0, high: 1 }, open: { low: 0 } } } } };
    expect(figures.paramBounds(config, 'weight')).toEqual({ low: 0, high: 1 });
    expect(figures.paramBounds(config, 'open')).toBeNull();
    expect(figures.paramBounds(undefined, 'weight')).toBeNull();
    expect(figures.heatmapId('a.b c/d')).toBe('heatmap-a_b_c_d');

    const weight = figures.heatmapFigure('weight', { models: ['m1', 'm2'], units: ['layer 0', 'layer 1'], values: [[0.1, 0.2], [0.3, 0.4]] }, { low: 0, high: 1 });
    expect(weight.data[0]).toMatchObject({ y: ['m1', 'm2'], x: ['layer 0', 'layer 1'], z: [[0.1, 0.2], [0.3, 0.4]], zmin: 0, zmax: 1, texttemplate: '%{z:.3f}' });
    expect(weight.layout.title.text).toBe('weight (bounds 0 to 1)');
    expect(weight.layout.height).toBe(140 + 30 * 2); // 200
    expect(weight.layout.margin.b).toBe(48);

    // A global parameter is one row named after it; long unit names tilt and get room below.
    const units = ['a_long_unit_name_0', 'b<i>'];
    const lambda = figures.heatmapFigure('<λ>', { units, values: [[0.5, 0.6]] }, null);
    expect(lambda.data[0].y).toEqual(['&lt;λ&gt;']);
    expect(lambda.data[0].x).toEqual(['a_long_unit_name_0', 'b&lt;i&gt;']);
    expect(lambda.data[0].zmin).toBeUndefined();
    expect(lambda.layout.title.text).toBe('&lt;λ&gt;');
    expect(lambda.layout.height).toBe(140 + 30 + 100); // 270
    expect(lambda.layout.margin.b).toBe(160);
    expect(lambda.layout.xaxis.tickangle).toBe(-40);

    // 11 × 11 = 121 cells: too many to print values in; 30 rows: the height stops at 640.
    const many = (n: number) => Array.from({ length: n }, (_, i) => `u${i}`);
    expect(figures.heatmapFigure('w', { models: many(11), units: many(11), values: [] }, null).data[0].texttemplate).toBe('');
    expect(figures.heatmapFigure('w', { models: many(30), units: ['u', 'v'], values: [] }, null).layout.height).toBe(640);
  });

  it('intermediateFigure draws markers only while there are at most 60 steps', () => {
    const steps = (n: number) => Array.from({ length: n }, (_, k) => ({ step: k * 10, value: 1 / (k + 1) }));
    expect(figures.intermediateFigure(steps(3)).data[0]).toMatchObject({ mode: 'lines+markers', x: [0, 10, 20], y: [1, 0.5, 1 / 3] });
    expect(figures.intermediateFigure(steps(61)).data[0].mode).toBe('lines');
  });
});

describe('source.js: the embedded data answers as the API does', () => {
  const data = {
    db: 'studies.db',
    studies: { studies: [{ name: 's' }] },
    byStudy: {
      s: {
        study: { name: 's' },
        trials: [0, 1, 2, 3, 4].map((n) => ({ number: n })),
        pareto: { 'acc,loss': { trials: [1] }, acc: { trials: [2] } },
        details: { 3: { number: 3 } },
      },
    },
  };

  it('pages trials after a cursor, finds Pareto sets by objective names, and says what is missing', async () => {
    const src = embeddedSource(data);
    expect(src.live).toBe(false);
    expect(await src.trials('s', null, 2)).toEqual({ trials: [{ number: 0 }, { number: 1 }], last: 1, more: true });
    expect(await src.trials('s', 2, 2)).toEqual({ trials: [{ number: 3 }, { number: 4 }], last: 4, more: false });
    expect(await src.trials('s', 4, 2)).toEqual({ trials: [], last: null, more: false });
    expect(paretoKey(['acc', 'loss'])).toBe('acc,loss');
    expect(paretoKey(undefined)).toBe('*');
    expect(await src.pareto('s', ['acc'])).toEqual({ trials: [2] });
    await expect(src.pareto('s', ['loss'])).rejects.toThrow('no Pareto set for loss');
    expect(await src.trial('s', 3)).toEqual({ trial: { number: 3 } });
    await expect(src.trial('s', 9)).rejects.toThrow('trial 9 is not in this report');
    await expect(src.study('t')).rejects.toThrow('study t is not in this report');
    await expect(src.exportTrial('s', 3, 'out')).rejects.toThrow('mergesearch export');
  });
});

describe('report-bundle.ts: the modules as one script for the saved report', () => {
  it('inlines every module of the page, dependencies first, with no import or export left', () => {
    const bundle = bundleModules(DEFAULT_PUBLIC_DIR, 'report/main.js');
    const order = [...bundle.matchAll(/^\/\/ ==== module (\S+) ====$/gm)].map((m) => m[1]);
    expect([...order].sort()).toEqual(
      fs
        .readdirSync(REPORT_DIR)
        .filter((f) => f.endsWith('.js'))
        .map((f) => `report/${f}`)
        .sort(),
    );
    expect(order.at(-1)).toBe('report/main.js');
    expect(order.indexOf('report/html.js')).toBeLessThan(order.indexOf('report/format.js'));
    expect(order.indexOf('report/trials.js')).toBeLessThan(order.indexOf('report/front.js'));
    expect(bundle).not.toMatch(/^\s*(import|export)\b/m);
    expect(() => new vm.Script(bundle)).not.toThrow(); // it parses
  });

  it('keeps each module to its own scope and runs them in dependency order', () => {
    const tmp = makeTmp('ms-bundle-');
    try {
      const w = (f: string, s: string) => fs.writeFileSync(path.join(tmp.dir, f), s);
      w('c.js', "globalThis.log.push('c');\nconst hidden = 'c';\nexport const base = 10;\n");
      w('b.js', "import { base } from './c.js';\nglobalThis.log.push('b');\nconst hidden = 'b';\nexport function twice() {\n  return 2 * base + hidden.length;\n}\n");
      w('a.js', "import {\n  twice,\n} from './b.js';\nimport { base } from './c.js';\nconst hidden = 'a';\nglobalThis.log.push('a');\nglobalThis.result = [twice(), base, hidden];\n");
      const ctx: { log: string[]; result?: unknown } = { log: [] };
      vm.runInNewContext(bundleModules(tmp.dir, 'a.js'), ctx);
      // c runs once, before b and a; each `hidden` is its module's own.
      expect(ctx.log).toEqual(['c', 'b', 'a']);
      expect(ctx.result).toEqual([21, 10, 'a']);
    } finally {
      tmp.cleanup();
    }
  });

  it('refuses what it cannot inline faithfully, naming the module', () => {
    const tmp = makeTmp('ms-bundle-');
    try {
      const w = (f: string, s: string) => fs.writeFileSync(path.join(tmp.dir, f), s);
      const refused = (entry: string, message: RegExp) => expect(() => bundleModules(tmp.dir, entry)).toThrow(message);
      w('ok.js', 'export const x = 1;\n');
      w('default.js', 'export default 1;\n');
      refused('default.js', /default\.js: cannot inline "export default 1;"/);
      w('star.js', "import * as ok from './ok.js';\n");
      refused('star.js', /star\.js: cannot inline "import \* as ok/);
      w('rename.js', "import { x as y } from './ok.js';\n");
      refused('rename.js', /rename\.js: import 'x as y' from '\.\/ok\.js' is not a plain name/);
      w('bare.js', "import { x } from 'lodash';\n");
      refused('bare.js', /bare\.js: imports 'lodash'/);
      w('missing.js', "import { y } from './ok.js';\n");
      refused('missing.js', /missing\.js imports y from ok\.js, which does not export it/);
      w('dynamic.js', "const m = import('./ok.js');\n");
      refused('dynamic.js', /dynamic\.js: cannot inline/);
      w('p.js', "import { q } from './q.js';\nexport const p = 1;\n");
      w('q.js', "import { p } from './p.js';\nexport const q = 1;\n");
      refused('p.js', /cycle: p\.js → q\.js → p\.js/);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('decision figures: one-unit bars, baselines, parallel coordinates, importance, comparison, the live badge', async () => {
  const insights = await pageModule('insights.js');
  const { isLive, LIVE_WINDOW_MS } = await pageModule('trials.js');
  const ACC = { name: 'acc', direction: 'maximize' };
  const LOSS = { name: 'loss', direction: 'minimize' };
  const baselines = {
    objectives: ['acc', 'loss'],
    base: [0.5, 2],
    taskArithmetic: { lambda: 0.3, values: [0.7, 1.5], grid: [0.1, 1] },
    experts: [{ task: 'a', value: 0.9 }, null],
    scores: { base: 0.1, taskArithmetic: 0.4, experts: null },
    normalized: { base: null, taskArithmetic: null },
  };

  it('draws one unit per row (task granularity, a global parameter) as bars on the bounds, not a one-column heatmap', () => {
    const f = figures.heatmapFigure('weight', { models: ['plain', 'rot<90>'], units: ['all'], values: [[0.25], [0.75]] }, { low: 0, high: 1 });
    expect(f.data[0].type).toBe('bar');
    expect(f.data[0].x).toEqual(['plain', 'rot&lt;90&gt;']);
    expect(f.data[0].y).toEqual([0.25, 0.75]);
    expect(f.layout.yaxis.range).toEqual([0, 1]);
    const g = figures.heatmapFigure('lambda', { units: ['all'], values: [[1.25]] }, { low: 0.5, high: 1.5 });
    expect([g.data[0].type, g.data[0].x, g.data[0].y]).toEqual(['bar', ['lambda'], [1.25]]);
    expect(g.layout.yaxis.range).toEqual([0, 1.5]);
  });

  it('places the baselines: reference values per objective and for the score, lines and points', () => {
    expect(insights.baselineValues(baselines, 0)).toEqual([
      { key: 'base', name: 'base', value: 0.5 },
      { key: 'taskArithmetic', name: 'task arithmetic (λ 0.3)', value: 0.7 },
      { key: 'experts', name: 'expert a on its own task', value: 0.9 },
    ]);
    // No expert for loss's task; no experts score.
    expect(insights.baselineValues(baselines, 1).map((r: { key: string }) => r.key)).toEqual(['base', 'taskArithmetic']);
    expect(insights.baselineValues(baselines, 'score').map((r: { value: number }) => r.value)).toEqual([0.1, 0.4]);
    expect(insights.baselineValues(null, 0)).toEqual([]);
    const lines = insights.referenceLines(insights.baselineValues(baselines, 0), 3, 17);
    expect(lines.map((l: { name: string; x: number[]; y: number[] }) => [l.name, l.x, l.y])).toEqual([
      ['baseline: base', [3, 17], [0.5, 0.5]],
      ['baseline: task arithmetic (λ 0.3)', [3, 17], [0.7, 0.7]],
      ['baseline: expert a on its own task', [3, 17], [0.9, 0.9]],
    ]);
    // On the (acc, loss) plane: base and task arithmetic are points; the experts have no loss value.
    const pts = insights.baselinePoints(baselines, 0, 1);
    expect(pts.map((p: { name: string; x: number[]; y: number[] }) => [p.name, p.x[0], p.y[0]])).toEqual([
      ['baseline: base', 0.5, 2],
      ['baseline: task arithmetic (λ 0.3)', 0.7, 1.5],
    ]);
    expect(insights.baselinePoints(baselines, 0, 0)).toEqual([]);
    // The history chart carries them as lines over its trial range.
    const study = { name: 's', objectives: [ACC, LOSS] };
    const trials = [2, 5, 9].map((n) => ({ number: n, state: 'COMPLETE', values: [n / 10, 1] }));
    const h = figures.historyFigure({ study, trials, i: 0, baselines });
    expect(h.data.filter((d: { name: string }) => d.name.startsWith('baseline: ')).map((d: { x: number[] }) => d.x)).toEqual([[2, 9], [2, 9], [2, 9]]);
  });

  it('lays out parallel coordinates: objectives then coefficients, Pareto-set lines coloured', () => {
    const study = { name: 's', objectives: [ACC, LOSS] };
    const trials = [
      { number: 0, state: 'COMPLETE', values: [0.5, 1], x: [0.1, 0.2] },
      { number: 1, state: 'COMPLETE', values: [0.6, 'NaN'], x: [0.3, 0.4] },
      { number: 2, state: 'FAIL', values: null, x: [0.5, 0.6] },
      { number: 3, state: 'COMPLETE', values: [0.7, 2], x: [0.7, 0.8] },
    ];
    const f = insights.parcoordsFigure({ study, trials, coordinates: ['w[a]', 'w<b>'], front: new Set([3]) });
    const pc = f.data[0];
    expect(pc.type).toBe('parcoords');
    expect(pc.dimensions.map((d: { label: string }) => d.label)).toEqual(['acc ↑', 'loss ↓', 'w[a]', 'w&lt;b&gt;']);
    expect(pc.dimensions.map((d: { values: number[] }) => d.values)).toEqual([[0.5, 0.7], [1, 2], [0.1, 0.7], [0.2, 0.8]]);
    expect(pc.customdata).toEqual([0, 3]);
    expect(pc.line.color).toEqual([0, 1]);
    // Past MAX_PARCOORDS coefficients the rest are left out, and the note says so.
    const wide = insights.parcoordsFigure({ study, trials: [{ number: 0, state: 'COMPLETE', values: [1, 1], x: new Array(50).fill(0) }], coordinates: [], front: new Set() });
    expect(wide.data[0].dimensions).toHaveLength(2 + insights.MAX_PARCOORDS);
    expect(wide.note).toContain(`the first ${insights.MAX_PARCOORDS} of 50 coefficients`);
  });

  it('orders importance bars by |ρ| and keeps the grid as the server sent it', () => {
    const imp = { coordinates: ['a', 'b', 'c', 'd'], objectives: ['acc', 'loss'], spearman: [[0.1, -0.2], [0.9, null], [null, null], [-0.5, 0.5]], score: [0.1, 0.9, null, -0.5], trials: 7 };
    const bar = insights.importanceFigure(imp).data[0];
    expect(bar.x).toEqual(['b', 'd', 'a']);
    expect(bar.y).toEqual([0.9, -0.5, 0.1]);
    const grid = insights.importanceMatrixFigure(imp).data[0];
    expect([grid.type, grid.z, grid.x, grid.y, grid.zmin, grid.zmax]).toEqual(['heatmap', imp.spearman, ['acc', 'loss'], ['a', 'b', 'c', 'd'], -1, 1]);
  });

  it('draws every compared study as a step curve of the chosen series, with the baselines over the whole range', () => {
    const study = { name: 'me', objectives: [ACC, LOSS] };
    const compare = {
      objectives: ['acc', 'loss'],
      studies: [
        { name: 'me', optimizer: 'nsga2', completed: 3, score: { x: [1, 3], y: [0.2, 0.5] }, objectives: [{ x: [1, 3], y: [0.5, 0.7] }, { x: [1, 2], y: [2, 1] }] },
        { name: 'other', optimizer: 'random', completed: 9, score: { x: [1, 9], y: [0.1, 0.3] }, objectives: [{ x: [1, 9], y: [0.4, 0.6] }, { x: [1], y: [3] }] },
      ],
    };
    const f = insights.compareFigure({ study, compare, series: 'score', baselines });
    const curves = f.data.filter((d: { name: string }) => !d.name.startsWith('baseline: '));
    expect(curves.map((d: { name: string; x: number[]; y: number[]; line: { shape: string } }) => [d.name, d.x, d.y, d.line.shape])).toEqual([
      ['me (nsga2)', [1, 3], [0.2, 0.5], 'hv'],
      ['other (random)', [1, 9], [0.1, 0.3], 'hv'],
    ]);
    expect(f.data.filter((d: { name: string }) => d.name.startsWith('baseline: ')).map((d: { x: number[]; y: number[] }) => [d.x, d.y])).toEqual([
      [[1, 9], [0.1, 0.1]],
      [[1, 9], [0.4, 0.4]],
    ]);
    const byLoss = insights.compareFigure({ study, compare, series: 1, baselines });
    expect(byLoss.data[1].y).toEqual([3]);
    expect(byLoss.layout.yaxis.title.text).toBe('loss (↓ min)');
  });

  it('shows the live badge only while trials run or one finished moments ago', () => {
    const now = 1_000_000;
    expect(isLive([{ state: 'COMPLETE', finished: now - LIVE_WINDOW_MS - 1 }], now)).toBe(false);
    expect(isLive([{ state: 'COMPLETE', finished: now - 1000 }], now)).toBe(true);
    expect(isLive([{ state: 'COMPLETE', finished: 0 }, { state: 'RUNNING', finished: null }], now)).toBe(true);
    expect(isLive([{ state: 'WAITING', finished: null }], now)).toBe(true);
    expect(isLive([], now)).toBe(false);
  });

  it('writes the recommendation card with the rule, the baselines beside the pick and the export command, escaped', () => {
    const rec = {
      rule: { weights: [1, 1], scale: 'minmax', declared: false, text: 'best mean of the 2 objectives (equal weights; each objective rescaled)' },
      recommended: { number: 7, values: [0.8, 1.25], score: 0.75, normalized: null },
      considered: 12,
      baselines,
      exportCommand: 'npx mergesearch export --db a<b>.db --study s --trial 7 --out merged-s-7',
    };
    const out = String(markup.recommendHtml(rec, [ACC, LOSS]));
    expect(out).toContain('<h2>Recommended merge: trial 7</h2>');
    expect(out).toContain('data-trial="7"');
    expect(out).toContain('The best mean of the 2 objectives (equal weights; each objective rescaled), among 12 completed trials.');
    expect(out).toContain('<tr class="pick"><th>recommended: trial 7</th><td class="num">0.8000</td><td class="num">1.2500</td><td class="num">0.7500</td></tr>');
    expect(out).toContain('<tr class="baseline"><th>task arithmetic, λ 0.3 (tuned)</th><td class="num">0.7000</td><td class="num">1.5000</td><td class="num">0.4000</td></tr>');
    expect(out).toContain('<tr class="baseline"><th>each expert on its own task</th><td class="num">0.9000</td><td class="num">—</td><td class="num">—</td></tr>');
    expect(out).toContain('<code class="command">npx mergesearch export --db a&lt;b&gt;.db --study s --trial 7 --out merged-s-7</code>');
    expect(out).toContain('<th>score</th>');
    expect(String(markup.recommendHtml({ ...rec, recommended: null }, [ACC, LOSS]))).toContain('No trial has completed yet.');
    expect(String(markup.recommendHtml({ ...rec, baselines: null }, [ACC, LOSS]))).toContain('No baselines stored for this study');
  });

  it('shows a command study\'s baselines: only the parts scored, each expert as a row, the best expert per objective as the reference', () => {
    const cmd = {
      objectives: ['acc', 'loss'],
      kind: 'command',
      base: null,
      taskArithmetic: { lambda: 0.5, values: [0.8, 1], grid: [0.3, 0.5], gridValues: [[0.7, 1.5], [0.8, 1]] },
      experts: [{ task: 'e1', value: 0.9 }, { task: 'e2', value: 0.4 }],
      expertModels: [
        { name: 'e1', values: [0.9, 1.2] },
        { name: 'e2', values: [0.6, 0.4] },
      ],
      evaluations: 4,
      merges: 2,
      scores: { base: null, taskArithmetic: 0.6, experts: 0.9, expertModels: [0.7, 0.55] },
      normalized: { base: null, taskArithmetic: null },
    };
    expect(insights.baselineValues(cmd, 1)).toEqual([
      { key: 'taskArithmetic', name: 'task arithmetic (λ 0.5)', value: 1 },
      { key: 'experts', name: 'expert e2 (the best on it)', value: 0.4 },
    ]);
    expect(insights.baselineValues(cmd, 'score').map((r: { name: string }) => r.name)).toEqual(['task arithmetic (λ 0.5)', 'best expert on each objective']);
    const rec = {
      rule: { weights: [1, 1], scale: 'minmax', declared: false, text: 'best mean' },
      recommended: { number: 3, values: [0.85, 0.9], score: 0.8, normalized: null },
      considered: 5,
      baselines: cmd,
      exportCommand: 'npx mergesearch export --db a.db --study s --trial 3 --out merged-s-3',
    };
    const out = String(markup.recommendHtml(rec, [ACC, LOSS]));
    expect(out).toContain('<tr class="baseline"><th>task arithmetic, λ 0.5 (best of 2)</th><td class="num">0.8000</td><td class="num">1.0000</td><td class="num">0.6000</td></tr>');
    expect(out).toContain('<tr class="baseline"><th>expert e2</th><td class="num">0.6000</td><td class="num">0.4000</td><td class="num">0.5500</td></tr>');
    expect(out).not.toContain('<th>base</th>');
    expect(out).toContain("Baselines scored with the study&#39;s command after the search (4 command runs, 2 merges); task arithmetic: the best λ of 0.3, 0.5.");
  });
});
