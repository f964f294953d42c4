// The report page as ONE self-contained HTML file (`mergesearch report --out report.html`): the
// page's HTML, CSS and JS modules (joined into one script by report-bundle.ts), the Plotly bundle,
// and the data the JSON API would return, all inlined, so the file opens from file:// on a machine
// with no network and no mergesearch. The page finds the embedded JSON
// (<script type="application/json" id="mergesearch-data">) and reads it instead of the API;
// export is switched off there (it needs the server and the checkpoints).
//
// The embedded JSON is built with the API's own row builders (json.ts, front.ts, coefficients.ts),
// so the saved page shows what the live page shows.
import fs from 'node:fs';
import path from 'node:path';
import { fail } from '../errors.ts';
import { TRIAL_STATES, type StudyRow, type TrialRow, type TrialState } from '../study/index.ts';
import { StudyStore, parseLocation, redactUrl } from '../study/index.ts';
import { coefficientTables, isDecoded, modelCount, modelNames } from './coefficients.ts';
import { studyAnalysis } from './analysis.ts';
import type { CompareJson } from './compare.ts';
import { configYaml } from './config-yaml.ts';
import { computeFront, type FrontResult } from './front.ts';
import type { ImportanceJson } from './importance.ts';
import type { RecommendationJson } from './recommendation.ts';
import { jsonSafe, studyHeadJson, summaryJson, trialJson } from './json.ts';
import { bundleModules } from './report-bundle.ts';
import { plotlyPath } from './routes/vendor.ts';
import { DEFAULT_PUBLIC_DIR } from './static.ts';

export interface ReportStudyData {
  /** As GET /api/studies/:name's `study`. */
  study: ReturnType<typeof studyDetailJson>;
  /** As GET /api/studies/:name/trials (every page joined). */
  trials: ReturnType<typeof trialJson>[];
  /** As GET /api/studies/:name/pareto?objectives=..., keyed by the objective names in study order, comma-joined: every single objective and every pair. */
  pareto: Record<string, FrontResult>;
  /** As GET /api/studies/:name/trials/:number's `trial`, by number. */
  details: Record<number, unknown>;
  /** As GET /api/studies/:name/recommendation, /importance and /compare. */
  recommendation: RecommendationJson;
  importance: ImportanceJson;
  compare: CompareJson;
}

export interface ReportData {
  version: 1;
  generated: string;
  /** The database the report was made from (shown in the page, and in its export hint). */
  db: string;
  /** As GET /api/studies. */
  studies: { studies: ReturnType<typeof summaryJson>[] };
  byStudy: Record<string, ReportStudyData>;
}

function studyDetailJson(store: StudyStore, s: StudyRow) {
  const counts = Object.fromEntries(TRIAL_STATES.map((st) => [st, store.countTrials(s.id, [st])])) as Record<TrialState, number>;
  const attrs = store.studyAttrs(s.id);
  return { ...studyHeadJson(s, counts), config: jsonSafe(s.config), yaml: configYaml(s, attrs), attrs: jsonSafe(attrs) as Record<string, unknown>, notes: store.notes(s.id) };
}

function trialDetails(s: StudyRow, trials: TrialRow[], searchDirs: string[]): Record<number, unknown> {
  // Model names come from the zoo manifest or the checkpoint folders: look them up once per study.
  const names = new Map<number, ReturnType<typeof modelNames>>();
  const out: Record<number, unknown> = {};
  for (const t of trials) {
    const decoded = isDecoded(t.decoded) ? t.decoded : null;
    const count = modelCount(decoded);
    let m = names.get(count);
    if (!m) names.set(count, (m = modelNames(s, count, searchDirs)));
    out[t.number] = { ...trialJson(t), decoded: jsonSafe(t.decoded), models: m.names, modelsFrom: m.from, coefficients: jsonSafe(coefficientTables(decoded, m.names)) };
  }
  return out;
}

/** Pareto sets of every single objective and every pair (what the page's two selectors can ask). */
function pairFronts(s: StudyRow, trials: TrialRow[]): Record<string, FrontResult> {
  const done = trials.filter((t) => t.state === 'COMPLETE');
  const out: Record<string, FrontResult> = {};
  const k = s.objectives.length;
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      const idx = i === j ? [i] : [i, j];
      out[idx.map((n) => s.objectives[n]!.name).join(',')] = jsonSafe(computeFront(done, s.objectives, idx)) as FrontResult;
    }
  }
  return out;
}

/** The data the API would return for `names` (default: every study), as the page reads it. */
export function reportData(store: StudyStore, o: { db: string; studies?: string[]; searchDirs?: string[] }): ReportData {
  const all = store.listStudies();
  const picked = o.studies?.length ? o.studies.map((n) => store.getStudy(n).name) : all.map((s) => s.name);
  const where = parseLocation(o.db);
  const searchDirs = o.searchDirs ?? [process.cwd(), ...(where.kind === 'sqlite' ? [path.dirname(where.file)] : [])];
  const byStudy: Record<string, ReportStudyData> = {};
  for (const name of picked) {
    const s = store.getStudy(name);
    const trials = store.trials(s.id);
    byStudy[name] = {
      study: studyDetailJson(store, s),
      trials: trials.map(trialJson),
      pareto: pairFronts(s, trials),
      details: trialDetails(s, trials, searchDirs),
      recommendation: studyAnalysis(store, s, 'recommendation', o.db),
      importance: studyAnalysis(store, s, 'importance', o.db),
      compare: studyAnalysis(store, s, 'compare', o.db),
    };
  }
  return {
    version: 1,
    generated: new Date().toISOString(),
    // Shown in the saved page's export hint: a postgres:// URL without its password.
    db: redactUrl(o.db),
    studies: { studies: all.filter((s) => picked.includes(s.name)).map(summaryJson) },
    byStudy,
  };
}

/** Put `what` (the first match of `pattern`) in place, or fail: a page edit must not silently drop a part. */
function replaceOnce(html: string, pattern: RegExp, what: string, replacement: string): string {
  if (!pattern.test(html)) throw new Error(`report page: index.html has no ${what} to inline (${pattern})`);
  // A function, so `$&` and `$'` in the bundle are not read as replacement patterns.
  return html.replace(pattern, () => replacement);
}

/** Script text safe inside <script>...</script>: no `</script` may close the element early. */
function scriptText(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1');
}

/** The page with CSS, JS, Plotly and `data` inlined. */
export function reportHtml(data: ReportData, o: { publicDir?: string } = {}): string {
  const dir = o.publicDir ?? DEFAULT_PUBLIC_DIR;
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  let html = read('index.html');
  const plotly = fs.readFileSync(plotlyPath(), 'utf8');
  // JSON inside a script element: `<` escaped keeps `</script>` and `<!--` out of it; JSON.parse
  // reads \u003c back as `<`.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  // The icon as a data: URL, so the saved page asks for no file beside it.
  html = replaceOnce(html, /<link rel="icon" type="image\/svg\+xml" href="favicon\.svg">/, 'icon link', `<link rel="icon" type="image/svg+xml" href="data:image/svg+xml;base64,${Buffer.from(read('favicon.svg')).toString('base64')}">`);
  html = replaceOnce(html, /<link rel="stylesheet" href="style\.css">/, 'stylesheet link', `<style>\n${read('style.css').replace(/<\/(style)/gi, '<\\/$1')}\n</style>`);
  html = replaceOnce(html, /<script src="vendor\/plotly\.min\.js"><\/script>/, 'plotly script', `<script>\n${scriptText(plotly)}\n</script>`);
  html = replaceOnce(
    html,
    /<script type="module" src="report\/main\.js"><\/script>/,
    'report/main.js script',
    `<script type="application/json" id="mergesearch-data">${json}</script>\n  <script type="module">\n${scriptText(bundleModules(dir, 'report/main.js'))}\n</script>`,
  );
  const names = Object.keys(data.byStudy);
  return html.replace(/<title>[^<]*<\/title>/, () => `<title>mergesearch report: ${names.join(', ').replace(/[&<>]/g, ' ')}</title>`);
}

export interface WriteReportOptions {
  db: string;
  /** Studies to include (default: all). */
  studies?: string[];
  out: string;
}

export interface WriteReportResult {
  out: string;
  bytes: number;
  studies: string[];
  trials: number;
}

/** Write the self-contained report file (through a temporary file, renamed when complete). */
export function writeReport(o: WriteReportOptions): WriteReportResult {
  if (parseLocation(o.db).kind === 'sqlite' && !fs.existsSync(o.db)) fail('STUDY_E_OPEN', `${o.db} does not exist; give the study database with --db FILE`);
  const store = StudyStore.open(o.db, { readonly: true });
  let data: ReportData;
  try {
    data = reportData(store, { db: o.db, studies: o.studies });
  } finally {
    store.close();
  }
  const studies = Object.keys(data.byStudy);
  if (studies.length === 0) fail('STUDY_E_NOT_FOUND', `${store.file} holds no studies yet; run mergesearch search first`);
  const html = reportHtml(data);
  const out = path.resolve(o.out);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) fail('IO_E_WRITE', `--out ${o.out} is a folder; give a file name such as report.html`);
  const tmp = `${out}.partial-${process.pid}`;
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(tmp, html);
    fs.renameSync(tmp, out);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    fail('IO_E_WRITE', `cannot write ${out} (${(e as Error).message}); check the folder and its permissions`);
  }
  const trials = studies.reduce((n, s) => n + data.byStudy[s]!.trials.length, 0);
  return { out, bytes: Buffer.byteLength(html), studies, trials };
}
