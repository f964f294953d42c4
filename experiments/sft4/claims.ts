// npm run results:sft4 [-- --only dare,merge,widen,fw,optimizers] [--studies NAME,NAME] [--skip-studies]
//                          [--samples N|all] [--learned-margin X] [--zoo DIR] [--out FILE]
// The five claims of the founding merging papers, measured on an sft4 zoo (src/zoo/sft4*.ts: a
// capable base, SFT experts with small deltas, one continued-pretraining (PT) expert with large
// deltas, irrelevant experts), each a section of RESULTS.md with its table:
//   dare        each SFT expert's and the PT expert's own-task exact match after DARE drops p of its
//               delta (rescaled by 1/(1−p), by L1 norm matching as mergekit, or not at all);
//   merge       TA, TIES, DARE-TIES, WIDEN and the newer methods on 2, 3 and all SFT experts, each
//               method's coefficient chosen on validation, retention per expert on test;
//   widen       an SFT expert + the PT expert: WIDEN against TA / TIES / DARE-TIES, t and s varied;
//   fw          Frank-Wolfe over the SFT experts plus the irrelevant ones against task arithmetic;
//   optimizers  every optimizer (experiments/sft4/studies/*.yaml) as in the skills4 table.
// Every merge goes through the project's merge code (src/merge/host-merge.ts). Without --zoo: the
// built-in zoo (zoo/sft4, built with seed 0 if missing) and the tracked experiments/sft4/RESULTS.md
// with the hand-written observations/<claim>.md under each table; with --zoo DIR: DIR/RESULTS.md.
// --only runs some claims and replaces only their sections of the file already there (read again
// when written, so runs of different claims can go side by side). --samples N scores a seeded
// subsample of N test prompts per task (default 128; `all`: the whole split); coefficients are
// chosen on 64 seeded validation prompts per task (fewer when --samples is smaller).
// Wall times go to TIMINGS.md beside the results file (not tracked).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { fail, MergeSearchError } from '../../src/errors.ts';
import type { HostParams, MergeSpec } from '../../src/merge/host-merge.ts';
import { readStudyConfig } from '../../src/search/study-config.ts';
import { ZooProblem } from '../../src/search/zoo-problem.ts';
import { produceStatistics } from '../../src/stats/produce.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import type { LoadedZoo } from '../../src/zoo/family.ts';
import { familyOfDir } from '../../src/zoo/registry.ts';
import type { LoadedLmZoo } from '../../src/zoo/skills4-models.ts';
import type { EvalSplit } from '../../src/zoo/skills4-tasks.ts';
import { runFreshStudy } from '../fresh-study.ts';
import { defaultExperts, exactMatchOn, expertsWithRole, loadNamedLmZoo, mergeNamed, ownTask, type NamedLmZoo } from '../lm-named-zoo.ts';
import { optimizerRows, optimizerTable } from '../lm-optimizer-table.ts';
import { mergeNotes, writeTimings } from '../results-file.ts';
import { option, resultsTarget } from '../results-target.ts';

export const CLAIMS = ['dare', 'merge', 'widen', 'fw', 'optimizers'] as const;
export type Claim = (typeof CLAIMS)[number];

export const DROP_RATES = [0, 0.5, 0.7, 0.9, 0.95, 0.99];
export const RESCALES: Array<{ label: string; rescale: string }> = [
  { label: '1/(1−p)', rescale: 'inverse_density' },
  { label: 'L1 (mergekit)', rescale: 'l1' },
  { label: 'none', rescale: 'none' },
];
const TA_LAMBDAS = [0.5, 0.75, 1.0];
// TIES averages the kept entries whose sign agrees (normalize on, as mergekit): λ above 1 recovers a sum.
const TIES_LAMBDAS = [1.0, 1.5, 2.0];
const WIDEN_TS: Array<[number, number]> = [
  [1, 1],
  [0.5, 1],
  [2, 1],
  [1, 0.5],
  [1, 2],
];
/** Prompts per task that choose coefficients on validation (a seeded subsample; --samples caps it too). */
export const VALIDATION_SAMPLES = 64;
/** Test prompts per task by default (a seeded subsample, the same for every model): 2 shared cores. */
export const TEST_SAMPLES = 128;
/** Frank-Wolfe studies of claim 4: iterations (one trial each) and labelled samples per task per gradient. */
const FW = { iterations: 6, samples: 32, calibration: 32, adaSteps: 30, softIterations: 3 };

const here = path.dirname(fileURLToPath(import.meta.url));
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => (100 * x).toFixed(1);

interface Section {
  claim: Claim;
  title: string;
  body: string;
  seconds: number;
}

interface Context {
  z: NamedLmZoo;
  /** Test prompts per task (undefined: all). */
  samples?: number;
  valSamples: number;
  learnedMargin: number;
  log: (line: string) => void;
  /** Each expert's own-task exact match, by split. */
  own(name: string, split: EvalSplit): number;
  em(params: HostParams, tasks: string[], split: EvalSplit): number[];
  tmp: string;
}

interface Candidate {
  label: string;
  spec: MergeSpec;
}

const ones = (k: number, extra: Record<string, number | string> = {}) => Array.from({ length: k }, () => ({ weight: 1, ...extra }));

/** The method grids of claims 2 and 3 for k experts (statistics files for regmean and fisher, when given). */
function methodGrids(k: number, stats?: { gram: string[]; fisher: string[] }): Array<{ method: string; candidates: Candidate[] }> {
  const grid = (method: string, key: string, values: number[], base: Omit<MergeSpec, 'method'>, fmt = (v: number) => `${key} = ${v}`) =>
    values.map((v) => ({ label: fmt(v), spec: { method, ...base, global: { ...base.global, [key]: v } } }));
  const out: Array<{ method: string; candidates: Candidate[] }> = [
    { method: 'task arithmetic', candidates: grid('task_arithmetic', 'lambda', TA_LAMBDAS, { perModel: ones(k) }, (v) => `λ = ${v}`) },
    { method: 'TIES, density 0.5', candidates: grid('ties', 'lambda', TIES_LAMBDAS, { perModel: ones(k, { density: 0.5 }) }, (v) => `λ = ${v}`) },
    { method: 'DARE-TIES, density 0.5', candidates: grid('dare_ties', 'lambda', TA_LAMBDAS, { perModel: ones(k, { density: 0.5 }), seed: 0 }, (v) => `λ = ${v}`) },
    { method: 'WIDEN', candidates: [{ label: 't = 1, s = 1', spec: { method: 'widen', global: { t: 1, s: 1 } } }] },
    { method: 'TSV-M', candidates: grid('tsv_m', 'alpha', [0.5, 1.0], { perModel: ones(k) }, (v) => `α = ${v}`) },
    { method: 'Iso-C', candidates: grid('iso_c', 'alpha', [0.5, 1.0], { perModel: ones(k) }, (v) => `α = ${v}`) },
    { method: 'CART, rank 0.16', candidates: grid('cart', 'alpha', [1.5, 2.3], {}, (v) => `α = ${v}`) },
    // WUDI's 300 Adam steps cost out·in² per step and expert (a 512×192 weight: about 18 s per 100
    // steps with 4 experts here): 30 steps at λ 1 keep the claim's run time bounded.
    { method: 'WUDI, 30 steps', candidates: grid('wudi', 'lambda', [1.0], { global: { iterations: 30 } }, (v) => `λ = ${v}`) },
    { method: 'PCB, ratio 0.1', candidates: grid('pcb', 'lambda', [1.0, 2.0], { perModel: ones(k) }, (v) => `λ = ${v}`) },
    { method: 'Consensus TA, k = 2', candidates: grid('consensus', 'lambda', TA_LAMBDAS, { global: { k: 2 }, perModel: ones(k) }, (v) => `λ = ${v}`) },
  ];
  if (stats) {
    out.push({ method: 'RegMean', candidates: grid('regmean', 'alpha', [0.5, 0.95], { perModel: stats.gram.map((s) => ({ weight: 1, statistics: s })) }, (v) => `α = ${v}`) });
    out.push({ method: 'Fisher', candidates: [{ label: 'normalized', spec: { method: 'fisher', perModel: stats.fisher.map((s) => ({ weight: 1, statistics: s })) } }] });
  }
  return out;
}

/** The candidate with the highest mean validation retention (merged / expert's own exact match) on the experts' tasks. */
function chooseOnValidation(c: Context, experts: string[], candidates: Candidate[]): { best: Candidate; val: number } {
  const tasks = experts.map((n) => ownTask(c.z, n));
  let best = { best: candidates[0]!, val: -Infinity };
  for (const cand of candidates) {
    const em = c.em(mergeNamed(c.z, experts, cand.spec), tasks, 'validation');
    const val = mean(em.map((e, i) => e / Math.max(c.own(experts[i]!, 'validation'), 1e-9)));
    c.log(`  ${cand.spec.method} ${cand.label}: validation retention ${pct(val)} %`);
    if (val > best.val) best = { best: cand, val };
  }
  return best;
}

/** Test exact match per expert and retention (merged / own). */
function testRetention(c: Context, experts: string[], params: HostParams): Array<{ em: number; retention: number }> {
  const em = c.em(params, experts.map((n) => ownTask(c.z, n)), 'test');
  return em.map((e, i) => ({ em: e, retention: e / Math.max(c.own(experts[i]!, 'test'), 1e-9) }));
}

/** Least gain of an SFT expert's own validation exact match over the base's for claims 2–5 to merge it (--learned-margin). */
export const LEARNED_MARGIN = 0.1;

/**
 * The default (SFT) experts that learnt their skill: own validation exact match at least
 * LEARNED_MARGIN above the base's on that task. An expert that did not learn has no ability to
 * keep (its retention would divide by about nothing); it is named in the claims' text.
 */
function learnedExperts(c: Context, needs: string): { learned: string[]; skipped: string[] } {
  const all = defaultExperts(c.z, needs);
  const learned = all.filter((n) => c.own(n, 'validation') - c.em(c.z.base, [ownTask(c.z, n)], 'validation')[0]! >= c.learnedMargin);
  return { learned, skipped: all.filter((n) => !learned.includes(n)) };
}

const skippedNote = (skipped: string[], margin: number) =>
  skipped.length === 0 ? '' : ` Left out: ${skipped.join(', ')} (own validation exact match less than ${Math.round(100 * margin)} points above the base's: the expert did not learn its skill, so there is nothing to retain).`;

// ---- claim 1: DARE ---------------------------------------------------------------------------
function claimDare(c: Context): string {
  const sft = expertsWithRole(c.z, 'sft', 'the DARE claim');
  const pt = expertsWithRole(c.z, 'pt', 'the DARE claim (the PT expert\'s curve)');
  const lines = [
    `| expert | role | task | rescale | base | ${DROP_RATES.map((p) => `p = ${p}`).join(' | ')} |`,
    `|---|---|---|---|---:|${DROP_RATES.map(() => '---:').join('|')}|`,
  ];
  for (const name of [...sft, ...pt]) {
    const task = ownTask(c.z, name);
    const base = c.em(c.z.base, [task], 'test')[0]!;
    const drop = (p: number, rescale: string) =>
      c.em(mergeNamed(c.z, [name], { method: 'dare_linear', global: { lambda: 1, rescale }, perModel: [{ weight: 1, density: 1 - p }], seed: 0 }), [task], 'test')[0]!;
    const atZero = drop(0, 'inverse_density');
    for (const r of RESCALES) {
      const cells = DROP_RATES.map((p) => (p === 0 ? atZero : drop(p, r.rescale)));
      c.log(`dare ${name} ${r.label}: ${cells.map(pct).join(' ')}`);
      lines.push(`| ${name} | ${c.z.manifest.roles![name]} | ${task} | ${r.label} | ${pct(base)} | ${cells.map(pct).join(' | ')} |`);
    }
  }
  const stats = c.z.manifest.deltaStats;
  const deltas = stats
    ? [
        '',
        'The deltas (from the manifest, over every tensor): ‖Δ‖/‖base‖, mean |Δ|, and the share of entries with |Δ| < 0.005 (the DARE paper: most SFT deltas lie within 0.005).',
        '',
        '| expert | role | ‖Δ‖/‖base‖ | mean abs Δ | share below 0.005 |',
        '|---|---|---:|---:|---:|',
        ...c.z.names.filter((n) => stats[n]).map((n) => `| ${n} | ${c.z.manifest.roles?.[n] ?? '—'} | ${stats[n]!.relL2.toFixed(4)} | ${stats[n]!.meanAbs.toExponential(2)} | ${pct(stats[n]!.fracBelow005)} % |`),
      ]
    : [];
  return [
    'Each expert alone, its delta dropped at random with probability p (`dare_linear`, one expert, weight 1, λ 1, seed 0: base + rescaled kept delta), scored on its own task (test exact match, %). *1/(1−p)*: `rescale: inverse_density` (the DARE paper); *L1 (mergekit)*: `rescale: true`, kept entries scaled so the tensor\'s L1 norm is unchanged; *none*: no rescale. p = 0 is the expert itself; *base* is the base model on that task.',
    '',
    ...lines,
    ...deltas,
  ].join('\n');
}

// ---- claim 2: merging SFT experts ------------------------------------------------------------
function statsFor(c: Context, experts: string[]): { gram: string[]; fisher: string[] } {
  const dir = path.join(c.tmp, 'stats');
  fs.mkdirSync(dir, { recursive: true });
  const files = experts.map((name) => {
    const file = path.join(dir, `${name}.safetensors`);
    if (!fs.existsSync(file)) {
      const rel = c.z.manifest.data[ownTask(c.z, name)]?.calibration;
      if (!rel) fail('IO_E_CONFIG', `the zoo's manifest names no calibration data for ${ownTask(c.z, name)}`);
      produceStatistics({ model: c.z.folder(name), data: path.join(c.z.dir, rel), kinds: ['gram', 'fisher'], out: file, samples: 64 });
      c.log(`statistics of ${name}: ${file}`);
    }
    return file;
  });
  return { gram: files, fisher: files };
}

function subsets(sft: string[]): string[][] {
  const sizes = [...new Set([2, 3, sft.length].filter((k) => k >= 2 && k <= sft.length))];
  return sizes.map((k) => sft.slice(0, k));
}

function claimMerge(c: Context): string {
  const { learned: sft, skipped } = learnedExperts(c, 'the SFT-merging claim');
  if (sft.length < 2) fail('IO_E_CONFIG', `${path.join(c.z.dir, 'manifest.json')} has ${sft.length} SFT expert(s); merging needs at least 2`);
  const tasks = sft.map((n) => ownTask(c.z, n));
  const stats = statsFor(c, sft);
  const header = `| experts | merge (chosen on validation) | ${tasks.join(' | ')} | mean retention | min retention | ≥ 90 % of each |`;
  const lines = [header, `|---|---|${tasks.map(() => '---:').join('|')}|---:|---:|:---:|`];
  const summary: string[] = [];
  for (const experts of subsets(sft)) {
    const idx = experts.map((n) => sft.indexOf(n));
    const rows: Array<{ label: string; mean: number; min: number }> = [];
    const statsOf = { gram: idx.map((i) => stats.gram[i]!), fisher: idx.map((i) => stats.fisher[i]!) };
    for (const g of methodGrids(experts.length, statsOf)) {
      const t0 = Date.now();
      const { best } = chooseOnValidation(c, experts, g.candidates);
      const r = testRetention(c, experts, mergeNamed(c.z, experts, best.spec));
      const cells = sft.map((n) => {
        const j = experts.indexOf(n);
        return j < 0 ? '—' : `${pct(r[j]!.em)} (${pct(r[j]!.retention)} %)`;
      });
      const label = `${g.method}${g.candidates.length > 1 || best.label !== '' ? `, ${best.label}` : ''}`;
      const mn = Math.min(...r.map((x) => x.retention));
      const mr = mean(r.map((x) => x.retention));
      rows.push({ label, mean: mr, min: mn });
      c.log(`merge ${experts.join('+')} ${label}: mean retention ${pct(mr)} %, min ${pct(mn)} % (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      lines.push(`| ${experts.join(' + ')} | ${label} | ${cells.join(' | ')} | ${pct(mr)} % | ${pct(mn)} % | ${mn >= 0.9 ? 'yes' : 'no'} |`);
    }
    const top = rows.reduce((a, b) => (b.mean > a.mean ? b : a));
    const keepers = rows.filter((r) => r.min >= 0.9).map((r) => r.label);
    summary.push(
      `- ${experts.length} experts (${experts.join(' + ')}): the highest mean test retention is ${top.label} (${pct(top.mean)} %, min ${pct(top.min)} %); ${keepers.length === 0 ? 'no merge keeps ≥ 90 % of every expert' : `${keepers.length} of ${rows.length} merges keep ≥ 90 % of every expert (${keepers.join('; ')})`}.`,
    );
  }
  return [
    `The SFT experts (${sft.join(', ')}; the first 2, the first 3, and all) merged with each method; each method's coefficient was chosen among the values listed below by mean validation retention, and the chosen merge is scored on test. Cells: test exact match (%) on each merged expert's own task, and in brackets its retention (merged / the expert's own test exact match). Grids: task arithmetic, DARE-TIES and Consensus λ ∈ {${TA_LAMBDAS.join(', ')}}; TIES λ ∈ {${TIES_LAMBDAS.join(', ')}} (TIES averages the agreeing kept entries); TSV-M and Iso-C α ∈ {0.5, 1}; CART α ∈ {1.5, 2.3} at rank fraction 0.16; WUDI λ = 1 with 30 Adam steps (its default is 300, too slow for this run: each step costs out·in² per expert); PCB λ ∈ {1, 2}; RegMean α ∈ {0.5, 0.95}; Fisher with its defaults; WIDEN at t = 1, s = 1 (claim 3 varies them). RegMean and Fisher read statistics of each expert on 64 prompts + answers of its own task's calibration split (\`produceStatistics\`, as \`mergesearch stats\`). RegMean++ is left out: its \`gram_plus\` statistics are produced for a zoo's whole expert set (\`mergesearch stats --zoo\`), not for the subsets merged here.${skippedNote(skipped, c.learnedMargin)}`,
    '',
    ...lines,
    '',
    ...summary,
  ].join('\n');
}

// ---- claim 3: WIDEN, SFT + PT ----------------------------------------------------------------
function claimWiden(c: Context): string {
  const { learned: sft, skipped } = learnedExperts(c, 'the WIDEN claim');
  const [pt] = expertsWithRole(c.z, 'pt', 'the WIDEN claim');
  const ptTask = ownTask(c.z, pt!);
  const header = `| SFT expert + ${pt} | merge (chosen on validation) | SFT task | PT task (${ptTask}) | both ≥ 90 % |`;
  const lines = [header, '|---|---|---:|---:|:---:|'];
  const gridHeader = `| WIDEN t, s | ${sft.map((n) => `${n} + ${pt}`).join(' | ')} |`;
  const gridRows = new Map<string, string[]>();
  for (const s of sft) {
    const experts = [s, pt!];
    const task = ownTask(c.z, s);
    const widen = WIDEN_TS.map(([t, sv]) => ({ label: `t = ${t}, s = ${sv}`, spec: { method: 'widen', global: { t, s: sv } } }));
    const groups: Array<{ method: string; candidates: Candidate[] }> = [
      { method: 'task arithmetic', candidates: TA_LAMBDAS.map((l) => ({ label: `λ = ${l}`, spec: { method: 'task_arithmetic', global: { lambda: l }, perModel: ones(2) } })) },
      { method: 'TIES, density 0.5', candidates: TIES_LAMBDAS.map((l) => ({ label: `λ = ${l}`, spec: { method: 'ties', global: { lambda: l }, perModel: ones(2, { density: 0.5 }) } })) },
      { method: 'DARE-TIES, density 0.5', candidates: TA_LAMBDAS.map((l) => ({ label: `λ = ${l}`, spec: { method: 'dare_ties', global: { lambda: l }, perModel: ones(2, { density: 0.5 }), seed: 0 } })) },
      { method: 'WIDEN', candidates: widen },
    ];
    for (const g of groups) {
      const { best } = chooseOnValidation(c, experts, g.candidates);
      const r = testRetention(c, experts, mergeNamed(c.z, experts, best.spec));
      const both = r.every((x) => x.retention >= 0.9);
      c.log(`widen ${s}+${pt} ${g.method} ${best.label}: ${r.map((x) => `${pct(x.em)} (${pct(x.retention)} %)`).join(', ')}`);
      lines.push(`| ${s} (${task}) | ${g.method}, ${best.label} | ${pct(r[0]!.em)} (${pct(r[0]!.retention)} %) | ${pct(r[1]!.em)} (${pct(r[1]!.retention)} %) | ${both ? 'yes' : 'no'} |`);
    }
    for (const w of widen) {
      const r = testRetention(c, experts, mergeNamed(c.z, experts, w.spec));
      const row = gridRows.get(w.label) ?? [];
      row.push(`${pct(r[0]!.em)} / ${pct(r[1]!.em)}`);
      gridRows.set(w.label, row);
    }
  }
  return [
    `Each SFT expert merged with the continued-pretraining expert ${pt} (two experts, weights 1). Each method's coefficient (λ, or WIDEN's t and s) was chosen by mean validation retention among: task arithmetic and DARE-TIES λ ∈ {${TA_LAMBDAS.join(', ')}}; TIES λ ∈ {${TIES_LAMBDAS.join(', ')}}; WIDEN (t, s) ∈ {${WIDEN_TS.map(([t, s]) => `(${t}, ${s})`).join(', ')}} (t = 1, s = 1 is the project's default). Cells: test exact match (%) on the SFT expert's task and on ${ptTask}, with retention (merged / the expert's own test exact match) in brackets.${skippedNote(skipped, c.learnedMargin)}`,
    '',
    ...lines,
    '',
    `Every WIDEN (t, s) on test, without selection (cells: SFT task / ${ptTask} exact match, %):`,
    '',
    gridHeader,
    `|---|${sft.map(() => '---:').join('|')}|`,
    ...[...gridRows].map(([label, cells]) => `| ${label} | ${cells.join(' | ')} |`),
  ].join('\n');
}

// ---- claim 4: Frank-Wolfe with irrelevant experts --------------------------------------------
async function claimFw(c: Context, db: string): Promise<string> {
  const { learned: relevant, skipped } = learnedExperts(c, 'the FW-Merging claim');
  const irrelevant = expertsWithRole(c.z, 'irrelevant', 'the FW-Merging claim');
  const tasks = relevant.map((n) => ownTask(c.z, n));
  const all = [...relevant, ...irrelevant];
  const zoo = familyOfDir(c.z.dir).load(c.z.dir) as LoadedZoo & LoadedLmZoo;
  const header = `| merge | experts | ${tasks.join(' | ')} | mean retention | trials |`;
  const lines = [header, `|---|---:|${tasks.map(() => '---:').join('|')}|---:|---:|`];
  const row = (label: string, experts: string[], params: HostParams, trials: number | string) => {
    const em = c.em(params, tasks, 'test');
    const ret = em.map((e, i) => e / Math.max(c.own(relevant[i]!, 'test'), 1e-9));
    c.log(`fw ${label}: ${em.map(pct).join(' ')} (retention ${pct(mean(ret))} %)`);
    lines.push(`| ${label} | ${experts.length} | ${em.map(pct).join(' | ')} | ${pct(mean(ret))} % | ${trials} |`);
  };
  // Task arithmetic over the relevant experts, then over all: λ on validation retention of the relevant tasks.
  for (const [label, experts] of [
    ['relevant only', relevant],
    ['relevant + irrelevant', all],
  ] as const) {
    const cands = TA_LAMBDAS.map((l) => ({ label: `λ = ${l}`, spec: { method: 'task_arithmetic', global: { lambda: l }, perModel: ones(experts.length) } }));
    const valScore = (spec: MergeSpec) => mean(c.em(mergeNamed(c.z, experts, spec), tasks, 'validation').map((e, i) => e / Math.max(c.own(relevant[i]!, 'validation'), 1e-9)));
    let best = { cand: cands[0]!, v: -1 };
    for (const cand of cands) {
      const v = valScore(cand.spec);
      if (v > best.v) best = { cand, v };
    }
    row(`task arithmetic, ${label}, ${best.cand.label} (validation)`, experts, mergeNamed(c.z, experts, best.cand.spec), cands.length);
    row(`task arithmetic, ${label}, λ = 1`, experts, mergeNamed(c.z, experts, { method: 'task_arithmetic', global: { lambda: 1 }, perModel: ones(experts.length) }), 1);
  }
  const dir = path.join(c.tmp, 'fw-studies');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, experts, variant] of [
    ['fw-hard-relevant', relevant, 'hard'],
    ['fw-hard-all', all, 'hard'],
    ['fw-soft-all', all, 'soft'],
  ] as const) {
    const optimizer = variant === 'hard' ? { name: 'frank-wolfe', variant, iterations: FW.iterations, samples: FW.samples } : { name: 'frank-wolfe', variant, iterations: FW.softIterations, samples: FW.samples, ada_steps: FW.adaSteps };
    const config = {
      name: `sft4-${name}`,
      zoo: path.resolve(c.z.dir),
      experts: [...experts],
      space: { method: 'task_arithmetic', granularity: 'tensor', parameters: { weight: { low: 0, high: 1.5, init: 0.3 } } },
      objectives: { tasks, evaluator: 'exact_match', split: 'calibration' },
      samples: FW.calibration,
      optimizer,
      budget: { trials: 100 },
    };
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, stringify(config));
    const { config: read, complete, best } = await runFreshStudy(file, db);
    const problem = new ZooProblem(zoo, read);
    const merged = problem.mergeCandidate(best.x);
    problem.close();
    row(`Frank-Wolfe ${variant}, ${experts === relevant ? 'relevant only' : 'relevant + irrelevant'} (best calibration trial)`, experts, merged, complete.length);
  }
  return [
    `The relevant experts (the SFT experts: ${relevant.join(', ')}) and the irrelevant ones (${irrelevant.join(', ')}), scored on the relevant tasks only (test exact match, %; retention = merged / the relevant expert's own test exact match). Task arithmetic: every expert weight 1, λ chosen among {${TA_LAMBDAS.join(', ')}} by mean validation retention, and λ = 1 (the plain sum). Frank-Wolfe: the project's \`frank-wolfe\` optimizer over tensor-wise task-arithmetic weights in [0, 1.5] (start 0.3), objectives exact match on the relevant tasks' calibration split (${FW.calibration} prompts per task), gradients of the answer-token loss on ${FW.samples} labelled calibration examples per task; hard: ${FW.iterations} iterations; soft: ${FW.softIterations} iterations of ${FW.adaSteps} inner AdaMerging steps. Each study's best trial by mean calibration exact match is scored on test.${skippedNote(skipped, c.learnedMargin)}`,
    '',
    ...lines,
  ].join('\n');
}

// ---- claim 5: every optimizer -----------------------------------------------------------------
async function claimOptimizers(c: Context, db: string, o: { builtin: boolean; studies?: string[]; skipStudies: boolean; previous?: string; file: string }): Promise<{ body: string; rows: Array<{ name: string; seconds: number }> }> {
  const { learned: sft, skipped } = learnedExperts(c, 'the optimizer table');
  const tasks = sft.map((n) => ownTask(c.z, n));
  // The studies name their experts (experiments/sft4/studies/*.yaml `experts:`); they must be these.
  for (const f of fs.readdirSync(path.join(here, 'studies')).filter((x) => x.endsWith('.yaml'))) {
    const named = readStudyConfig(path.join(here, 'studies', f)).experts;
    if (named && named.join(',') !== sft.join(',')) c.log(`warning: ${f} merges ${named.join(', ')}, the table's other rows ${sft.join(', ')}`);
  }
  const zoo = familyOfDir(c.z.dir).load(c.z.dir) as LoadedZoo & LoadedLmZoo;
  const { rows, notes, individual } = await optimizerRows({
    zoo,
    tasks,
    experts: sft.map((n) => c.z.params(n)),
    merge: (spec) => mergeNamed(c.z, sft, spec),
    studiesDir: path.join(here, 'studies'),
    db,
    zooOverride: o.builtin ? undefined : path.resolve(c.z.dir),
    only: o.studies,
    skipStudies: o.skipStudies,
    samples: c.samples,
    valSamples: c.valSamples,
    log: c.log,
  });
  const partial = o.studies !== undefined || o.skipStudies;
  const { table, previousNotes } = optimizerTable(rows, individual, tasks, { previous: partial ? o.previous : undefined, file: o.file });
  const trials = fs
    .readdirSync(path.join(here, 'studies'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => f.replace(/\.yaml$/, ''));
  const body = [
    `The SFT experts (${sft.join(', ')}) merged by every optimizer in experiments/sft4/studies/ (${trials.join(', ')}), as in the skills4 table (experiments/lm-optimizer-table.ts, shared with it). Cells: test exact match (%) per task; *normalized*: mean over tasks of merged / individual exact match; *avg loss/token*: mean loss per answer token (nats, eos included). The classic merges choose λ among 0.2 … 1.2 by mean validation exact match. Studies search on calibration exact match (a seeded subsample, see each config; budgets are kept small so that the whole regeneration fits about half an hour on 2 cores) and their best trial by mean calibration exact match is scored here; *scoring forward passes* counts prompts run through candidates to score trials, *gradient steps* the intermediate values logged.${skippedNote(skipped, c.learnedMargin)}`,
    '',
    table,
    '',
    mergeNotes(previousNotes, notes)
      .map((n) => `- ${n}`)
      .join('\n'),
  ].join('\n');
  return { body, rows };
}

// ---- the file ---------------------------------------------------------------------------------
const TITLES: Record<Claim, string> = {
  dare: '1. DARE: how much of each delta can be dropped',
  merge: '2. Merging SFT experts',
  widen: '3. WIDEN: an SFT expert + the continued-pretraining expert',
  fw: '4. FW-Merging: relevant experts among irrelevant ones',
  optimizers: '5. Every optimizer',
};

const marker = (claim: Claim, end: boolean) => `<!-- claim:${claim}:${end ? 'end' : 'start'} -->`;

/** The section of `claim` in a results file written earlier (markers included), if any. */
export function sectionOf(text: string, claim: Claim): string | undefined {
  const i = text.indexOf(marker(claim, false));
  const j = text.indexOf(marker(claim, true));
  return i >= 0 && j > i ? text.slice(i, j + marker(claim, true).length) : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const onlyArg = option(args, '--only');
  const only = onlyArg === undefined ? [...CLAIMS] : onlyArg.split(',');
  for (const name of only) if (!(CLAIMS as readonly string[]).includes(name)) fail('CLI_E_ARG', `--only ${name}: no such claim; the claims are ${CLAIMS.join(', ')}`);
  const studiesArg = option(args, '--studies');
  const samplesArg = option(args, '--samples');
  const samples = samplesArg === undefined ? TEST_SAMPLES : samplesArg === 'all' ? undefined : Number(samplesArg);
  if (samples !== undefined && !(Number.isInteger(samples) && samples > 0)) fail('CLI_E_ARG', `--samples must be a positive integer or all; got ${samplesArg}`);
  const samplesFlag = samplesArg === undefined ? '' : ` --samples ${samplesArg}`;
  const skipStudies = args.includes('--skip-studies');
  const marginArg = option(args, '--learned-margin');
  const learnedMargin = marginArg === undefined ? LEARNED_MARGIN : Number(marginArg);
  if (!Number.isFinite(learnedMargin)) fail('CLI_E_ARG', `--learned-margin must be a number (a share of prompts, e.g. 0.1); got ${marginArg}`);

  const engine = await initEngine('auto');
  const target = resultsTarget(args, { family: 'sft4', script: 'results:sft4', trackedFile: path.join(here, 'RESULTS.md'), onLog: (l) => console.error(l) });
  const db = target.builtin ? path.join(here, 'studies.db') : path.join(path.dirname(target.out), 'studies.db');
  const started = Date.now();
  const z = loadNamedLmZoo(target.zooDir);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-sft4-claims-'));
  const ownCache = new Map<string, number>();
  const valSamples = Math.min(samples ?? Infinity, VALIDATION_SAMPLES);
  const em = (params: HostParams, tasks: string[], split: EvalSplit) => exactMatchOn(z, params, tasks, split, { samples: split === 'validation' ? valSamples : samples, seed: 0 });
  const c: Context = {
    z,
    samples,
    valSamples,
    learnedMargin,
    tmp,
    log: (l) => console.error(l),
    em,
    own(name, split) {
      const key = `${name}/${split}`;
      let v = ownCache.get(key);
      if (v === undefined) ownCache.set(key, (v = em(z.params(name), [ownTask(z, name)], split)[0]!));
      return v;
    },
  };
  const readPrevious = () => (fs.existsSync(target.out) ? fs.readFileSync(target.out, 'utf8') : '');
  const previous = readPrevious();
  const sections: Section[] = [];
  const timings: string[] = [];
  try {
    for (const claim of CLAIMS.filter((x) => only.includes(x))) {
      const t0 = Date.now();
      console.error(`== claim ${claim}`);
      let body: string;
      if (claim === 'dare') body = claimDare(c);
      else if (claim === 'merge') body = claimMerge(c);
      else if (claim === 'widen') body = claimWiden(c);
      else if (claim === 'fw') body = await claimFw(c, db.replace(/studies\.db$/, 'fw-studies.db'));
      else {
        const r = await claimOptimizers(c, db, { builtin: target.builtin, studies: studiesArg?.split(','), skipStudies, previous: sectionOf(previous, 'optimizers'), file: target.out });
        body = r.body;
        timings.push(...r.rows.map((row) => `optimizers / ${row.name}: ${row.seconds.toFixed(0)} s`));
      }
      const seconds = (Date.now() - t0) / 1000;
      sections.push({ claim, title: TITLES[claim], body, seconds });
      timings.push(`claim ${claim}: ${seconds.toFixed(0)} s`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const m = z.manifest;
  const roles = m.roles ?? {};
  const byRole = (r: string) => z.names.filter((n) => roles[n] === r);
  const render = (s: Section) => {
    const obs = target.builtin ? path.join(here, 'observations', `${s.claim}.md`) : '';
    const observations = obs && fs.existsSync(obs) ? `\n\n${fs.readFileSync(obs, 'utf8').trim()}` : '';
    const command = `${target.command.includes(' -- ') ? target.command : `${target.command} --`} --only ${s.claim}${samplesFlag}`;
    return `${marker(s.claim, false)}\n## ${s.title}\n\nRegenerate this section alone with \`${command}\`.\n\n${s.body}${observations}\n${marker(s.claim, true)}`;
  };
  // The file as it is now: another run of other claims may have written its sections meanwhile.
  const latest = readPrevious();
  const body = CLAIMS.map((claim) => {
    const fresh = sections.find((s) => s.claim === claim);
    return fresh ? render(fresh) : sectionOf(latest, claim);
  }).filter((s): s is string => s !== undefined);
  const text = `# ${target.builtin ? 'sft4 results: the founding merging papers\' claims' : `claims on the zoo ${target.zooDir}`}

Regenerate with \`${target.command}${samplesFlag ? `${target.command.includes(' -- ') ? '' : ' --'}${samplesFlag}` : ''}\` (${target.builtin ? 'builds `zoo/sft4` with seed 0 if missing; ' : ''}${engine.backend} backend; wall times go to
TIMINGS.md beside this file, not tracked). The zoo: a ${m.model.parameters.toLocaleString('en-US')}-parameter LlamaForCausalLM (hidden ${m.model.hidden},
${m.model.layers} layers, ${m.model.heads} heads / ${m.model.kvHeads} key-value heads) with ${byRole('sft').length} SFT experts (${byRole('sft').join(', ')}), ${byRole('pt').length} continued-pretraining
expert(s) (${byRole('pt').join(', ')}) and ${byRole('irrelevant').length} irrelevant experts (${byRole('irrelevant').join(', ')}). Scores are greedy exact match of the answer on
${samples !== undefined ? `a seeded subsample of ${samples} prompts per task of ` : ''}the test split (${m.splits.test} prompts per task); coefficients are chosen on a seeded subsample of ${Math.min(samples ?? Infinity, VALIDATION_SAMPLES)} of the
${m.splits.validation} validation prompts per task. Every merge combines all tensors and runs through the project's merge code
(the same per-tensor code as \`mergesearch merge\`).

${body.join('\n\n')}
`;
  fs.writeFileSync(target.out, text);
  const tfile = writeTimings(target.out, 'results:sft4', engine.backend, [`in all: ${((Date.now() - started) / 1000).toFixed(0)} s (claims: ${only.join(', ')})`, ...timings]);
  console.log(text);
  console.error(`wrote ${target.out}; wall times in ${tfile}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await main();
  } catch (e) {
    // A user's error (a zoo without roles, a bad flag): its coded message and exit status 2.
    if (!(e instanceof MergeSearchError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = 2;
  }
}
