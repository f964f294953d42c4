// `mergesearch search` end to end, as a user runs it: checkpoints on disk scored by a command (each
// trial merged by the streaming engine into a scratch folder), a search killed with SIGKILL and
// resumed (completed trials kept, the in-flight one failed and retried, CMA-ES's proposals identical
// to an uninterrupted run), several worker processes on one database, and a zoo study.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Baselines } from '../src/search/baselines.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { mergeToFolder } from '../src/merge/merge-to-folder.ts';
import { parseRecipe } from '../src/merge/recipe.ts';
import { SearchSpace } from '../src/search/space.ts';
import { recipeFor, recipeYaml } from '../src/search/to-recipe.ts';
import { loadClassifier, readZooManifest, scoreOnZoo } from '../src/zoo/zoo-eval.ts';
import { REPO_ROOT, runCli, writeHandCheckpoint } from './helpers/recipe-fixtures.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

let root: string;
let scoreLog: string;

// Scores a merged checkpoint: reads tensor layers.0.w and layers.1.w (F32) from its safetensors file
// and reports two objectives, after a pause so that a kill lands during a trial. Each call appends
// the checkpoint's values to a log, so the test can count evaluations.
const SCORER = `
import fs from 'node:fs';
const file = process.argv[2] + '/model.safetensors';
const buf = fs.readFileSync(file);
const n = Number(buf.readBigUInt64LE(0));
const header = JSON.parse(buf.subarray(8, 8 + n).toString());
const read = (name) => { const t = header[name]; const [a, b] = t.data_offsets; return Array.from(new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n + a, buf.byteOffset + 8 + n + b))); };
const w = [...read('layers.0.w'), ...read('layers.1.w')];
fs.appendFileSync(process.env.SCORE_LOG, JSON.stringify(w) + '\\n');
const near = 1 - w.reduce((s, v) => s + (v - 0.2) ** 2, 0);
const far = w.reduce((s, v) => s + (v - 0.9) ** 2, 0);
setTimeout(() => console.log(JSON.stringify({ near, far })), Number(process.env.SCORE_DELAY_MS ?? 0));
`;

function config(name: string, optimizer: string, trials: number, extra = ''): string {
  const file = path.join(root, `${name}.yaml`);
  fs.writeFileSync(
    file,
    `name: ${name}
seed: 3
checkpoints: {base: models/base, experts: [models/e1, models/e2]}
space:
  method: task_arithmetic
  granularity: layer
  parameters: {weight: {low: 0, high: 1}}
objectives:
  - {name: near, command: "node scorer.mjs {checkpoint}", direction: maximize}
  - {name: far, command: "node scorer.mjs {checkpoint}", direction: minimize}
optimizer: {name: ${optimizer}${extra}}
budget: {trials: ${trials}}
`,
  );
  return file;
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-cli-search-'));
  const t = (name: string, values: number[]) => ({ name, shape: [2], values });
  writeHandCheckpoint(path.join(root, 'models/base'), [t('layers.0.w', [0, 0]), t('layers.1.w', [0, 0])]);
  writeHandCheckpoint(path.join(root, 'models/e1'), [t('layers.0.w', [1, 0]), t('layers.1.w', [0, 1])]);
  writeHandCheckpoint(path.join(root, 'models/e2'), [t('layers.0.w', [0, 1]), t('layers.1.w', [1, 0])]);
  fs.writeFileSync(path.join(root, 'scorer.mjs'), SCORER);
  scoreLog = path.join(root, 'scores.log');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function search(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> & { child: ReturnType<typeof spawn> } {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/mergesearch.js'), 'search', ...args], {
    cwd: root,
    env: { ...process.env, CI: 'true', SCORE_LOG: scoreLog, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const p = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))) as ReturnType<typeof search>;
  p.child = child;
  return p;
}

const xsOf = (db: string, name: string, states = ['COMPLETE'] as const) => {
  const store = StudyStore.open(path.join(root, db), { readonly: true });
  try {
    return store.trials(store.getStudy(name).id, { states: [...states] });
  } finally {
    store.close();
  }
};

describe('search on checkpoints scored by a command', () => {
  it('runs, logs every trial, prints the Pareto set and the commands to use it', async () => {
    const r = await search([config('plain', 'random', 6), '--db', 'plain.db']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.match(/^trial +\d+ COMPLETE/gm)?.length).toBe(6);
    expect(r.stdout).toMatch(/recommended merge: trial \d+ of 6 completed, the best mean of the 2 objectives \(equal weights; each objective rescaled to \[0, 1\]/);
    expect(r.stdout).toMatch(/Pareto set over all 2 objectives together \(not the 2-D front of a plotted pair\): \d+ non-dominated of 6 completed/);
    // The export command names the recommended trial: near (max) and far (min) in different units,
    // each rescaled to [0, 1] over the trials, then averaged (ties: the lower number).
    const done = xsOf('plain.db', 'plain');
    const col = (i: number) => done.map((t) => t.values![i]!);
    const unit = (v: number, i: number, sign: number) => (sign * v - Math.min(...col(i).map((c) => sign * c))) / (Math.max(...col(i).map((c) => sign * c)) - Math.min(...col(i).map((c) => sign * c)));
    const score = (t: (typeof done)[number]) => (unit(t.values![0]!, 0, 1) + unit(t.values![1]!, 1, -1)) / 2;
    const best = [...done].sort((a, b) => score(b) - score(a) || a.number - b.number)[0]!;
    expect(r.stdout).toContain(`export it:   npx mergesearch export --db plain.db --study plain --trial ${best.number} --out merged-plain-${best.number}`);
    // No baselines unless asked (each is a command run), and the summary says how to ask and the cost:
    // base 1 + 2 experts + λ 0.3, 0.5, 1 (1/K = 0.5 among them) = 6 runs of the one command, 3 merges.
    expect(r.stdout).toContain('no baselines (each is a run of your command, so a command study scores them only when asked): add `baselines: true` to the config and run it again with --resume');
    expect(r.stdout).toContain('task arithmetic at λ 0.3, 0.5, 1 (6 command runs, 3 merges)');
    const trials = xsOf('plain.db', 'plain');
    // The command scored the real merged weights: base + Σ w·τ per layer, as the scorer recomputes.
    for (const t of trials) {
      const [w1l0, w1l1, w2l0, w2l1] = [t.x[0]!, t.x[1]!, t.x[2]!, t.x[3]!];
      // x = [e1 layer 0, e1 layer 1, e2 layer 0, e2 layer 1]; merged = [e1 l0, e2 l0] and [e2 l1, e1 l1].
      const w = [w1l0, w2l0, w2l1, w1l1];
      const near = 1 - w.reduce((s, v) => s + (v - 0.2) ** 2, 0);
      expect(t.values![0]).toBeCloseTo(near, 5);
    }
  });

  it('--quiet drops the header and the per-trial lines but still prints the Pareto set and the export command', async () => {
    const r = await search([config('hush', 'random', 3), '--db', 'hush.db', '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^trial +\d+ COMPLETE/m);
    expect(r.stderr).not.toContain('study hush in hush.db');
    expect(r.stdout).toContain('recommended merge: trial');
    expect(r.stdout).toContain('mergesearch export --db hush.db --study hush --trial');
    expect(xsOf('hush.db', 'hush').length).toBe(3);
  });

  it('baselines: scores the base, each expert and task arithmetic with the command once asked; a --resume scores only what is new', async () => {
    const file = config('based', 'random', 3);
    fs.appendFileSync(file, 'baselines: {base: true, experts: true, task_arithmetic: [1, 0.5]}\n');
    const lines = () => (fs.existsSync(scoreLog) ? fs.readFileSync(scoreLog, 'utf8').split('\n').filter(Boolean).length : 0);
    const before = lines();
    const r = await search([file, '--db', 'based.db']);
    expect(r.code, r.stderr).toBe(0);
    // 3 trials + base + 2 experts + 2 λ: one run each (both objectives share the command line).
    expect(lines() - before).toBe(3 + 1 + 2 + 2);
    expect(r.stderr).toContain('scoring the baselines with your command: the base, each of the 2 experts, task arithmetic at λ 0.5, 1 (5 command run(s), 2 merge(s))');
    // Worked by hand from the scorer: w = the four weights, near = 1 − Σ(w − 0.2)², far = Σ(w − 0.9)².
    // base w = 0: near 0.84, far 3.24; e1 = [1,0,0,1] and e2 = [0,1,1,0]: near −0.36, far 1.64;
    // task arithmetic w = λ·1: λ 0.5 → near 0.64, far 0.64; λ 1 → near −1.56, far 0.04.
    const store = StudyStore.open(path.join(root, 'based.db'), { readonly: true });
    let b: Baselines;
    try {
      b = store.studyAttrs(store.getStudy('based').id).baselines as Baselines;
    } finally {
      store.close();
    }
    expect(b.kind).toBe('command');
    expect(b.base![0]).toBeCloseTo(0.84, 6);
    expect(b.base![1]).toBeCloseTo(3.24, 6);
    expect(b.expertModels!.map((m) => m.name)).toEqual(['e1', 'e2']);
    for (const m of b.expertModels!) {
      expect(m.values[0]).toBeCloseTo(-0.36, 6);
      expect(m.values[1]).toBeCloseTo(1.64, 6);
    }
    expect(b.taskArithmetic!.grid).toEqual([0.5, 1]);
    expect(b.taskArithmetic!.gridValues![0]![0]).toBeCloseTo(0.64, 6);
    expect(b.taskArithmetic!.gridValues![0]![1]).toBeCloseTo(0.64, 6);
    expect(b.taskArithmetic!.gridValues![1]![0]).toBeCloseTo(-1.56, 6);
    expect(b.taskArithmetic!.gridValues![1]![1]).toBeCloseTo(0.04, 6);
    expect(b.evaluations).toBe(5);
    expect(b.merges).toBe(2);
    expect(r.stdout).toMatch(/^base +0\.8400 +3\.2400 /m);
    expect(r.stdout).toMatch(/^expert e1 +-0\.3600 +1\.6400 /m);
    expect(r.stdout).toMatch(/^task arithmetic, λ (0\.5|1) \(best of 2\) /m);
    expect(r.stdout).toContain('baselines scored with your command after the search (5 command run(s), 2 merge(s) in all)');
    // baselines: true for 2 experts is λ 0.3, 0.5, 1: only 0.3 is new, one more run.
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^baselines: .*$/m, 'baselines: true'));
    const mid = lines();
    const again = await search([file, '--db', 'based.db', '--resume']);
    expect(again.code, again.stderr).toBe(0);
    expect(lines() - mid).toBe(1);
    expect(again.stdout).toMatch(/^task arithmetic, λ (0\.3|0\.5|1) \(best of 3\) /m);
  });

  it('refuses to start a study whose name exists, and says to resume', async () => {
    const r = await search([path.join(root, 'plain.yaml'), '--db', 'plain.db']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/STUDY_E_EXISTS: study "plain" is already in plain.db \(6 trials\); continue it with --resume/);
  });

  it('killed with SIGKILL mid-trial and resumed: trials kept, the in-flight one failed and retried, CMA-ES proposes as if never stopped', async () => {
    const file = config('kill', 'cmaes', 16, ', population: 4');
    const whole = await search([file, '--db', 'whole.db']);
    expect(whole.code, whole.stderr).toBe(0);
    const expected = xsOf('whole.db', 'kill').map((t) => t.x);
    expect(expected.length).toBe(16);

    const run = search([file, '--db', 'killed.db'], { SCORE_DELAY_MS: '300' });
    // Kill once 6 trials are complete and the 7th is being scored.
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (!fs.existsSync(path.join(root, 'killed.db'))) return;
        let store: StudyStore;
        try {
          store = StudyStore.open(path.join(root, 'killed.db'), { readonly: true });
        } catch {
          return; // the file exists but the search has not created its tables yet
        }
        try {
          const s = store.findStudy('kill');
          if (s && store.countTrials(s.id, ['COMPLETE']) >= 6 && store.countTrials(s.id, ['RUNNING']) === 1) {
            clearInterval(poll);
            run.child.kill('SIGKILL');
            resolve();
          }
        } finally {
          store.close();
        }
      }, 20);
    });
    const killed = await run;
    expect(killed.signal).toBe('SIGKILL');

    const resumed = await search([file, '--db', 'killed.db', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/marked 1 interrupted trial\(s\) FAIL/);
    const all = xsOf('killed.db', 'kill', ['COMPLETE', 'FAIL', 'RUNNING', 'WAITING'] as never);
    const failed = all.filter((t) => t.state === 'FAIL');
    expect(failed.length).toBe(1);
    expect(failed[0]!.error).toMatch(/^interrupted/);
    const retry = all.find((t) => t.retryOf === failed[0]!.number)!;
    expect(retry.x).toEqual(failed[0]!.x);
    expect(retry.state).toBe('COMPLETE');
    expect(all.filter((t) => t.state === 'COMPLETE').map((t) => t.x)).toEqual(expected);
  });

  it('three worker processes finish the budget without lock errors or double evaluations', async () => {
    fs.writeFileSync(scoreLog, '');
    const r = await search([config('workers', 'random', 24), '--db', 'workers.db', '--workers', '3'], { SCORE_DELAY_MS: '50' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/locked|STUDY_E_BUSY/);
    const trials = xsOf('workers.db', 'workers', ['COMPLETE', 'FAIL', 'RUNNING', 'WAITING'] as never);
    expect(trials.length).toBe(24);
    expect(trials.every((t) => t.state === 'COMPLETE')).toBe(true);
    expect(new Set(trials.map((t) => t.number)).size).toBe(24);
    expect(new Set(trials.map((t) => t.worker)).size).toBeGreaterThan(1);
    // The scorer ran exactly once per trial: 24 evaluations for 24 trials.
    expect(fs.readFileSync(scoreLog, 'utf8').trim().split('\n').length).toBe(24);
  });
});

describe('a broken evaluator', () => {
  it('stops the search after 5 failed evaluations in a row instead of spending the budget', async () => {
    const file = path.join(root, 'broken.yaml');
    fs.writeFileSync(file, fs.readFileSync(config('broken', 'random', 40), 'utf8').replaceAll('node scorer.mjs', 'node no-such-scorer.mjs'));
    const r = await search([file, '--db', 'broken.db']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the evaluator failed on 5 trials in a row/);
    expect(r.stderr).toContain('--resume');
    const trials = xsOf('broken.db', 'broken', ['COMPLETE', 'FAIL'] as never);
    expect(trials.length).toBe(5);
    for (const t of trials) expect(t.error).toMatch(/^EVAL_E_COMMAND/);
  });
});

describe('search on a zoo', () => {
  let zoo: string;
  beforeAll(async () => {
    await initEngine('wasm');
    zoo = await copyTinyZoo(TINY_MNIST8, path.join(root, 'zoo-tiny'));
  });

  it('nsga2 over layer-wise TIES weights logs accuracies per task that match a direct evaluation', async () => {
    const file = path.join(root, 'zoo.yaml');
    fs.writeFileSync(
      file,
      `zoo: zoo-tiny
space: {method: ties, granularity: layer, parameters: {weight: {low: 0, high: 1}}, fixed: {density: 0.5}}
objectives: {tasks: all, evaluator: accuracy}
samples: 100
optimizer: {name: nsga2, population: 6}
budget: {trials: 12}
`,
    );
    const r = runCli(['search', file, '--db', path.join(root, 'zoo.db')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.match(/^trial +\d+ COMPLETE/gm)?.length).toBe(12);
    const done = xsOf('zoo.db', 'zoo');
    expect(done.length).toBe(12);
    // Independent check of one trial through the export path: its point as a mergekit recipe,
    // merged on disk by the streaming engine, loaded, and scored by the eval harness (same seeded
    // 100-sample subsample, each task through its expert's head).
    const t = done[done.length - 1]!;
    const manifest = readZooManifest(zoo);
    const space = new SearchSpace(
      { method: 'ties', granularity: 'layer', parameters: { weight: { low: 0, high: 1 } }, fixed: { density: 0.5 } },
      [...loadClassifier(path.join(zoo, manifest.base)).config.hiddenSizes.keys()].flatMap((i) => [`backbone.layers.${i}.weight`, `backbone.layers.${i}.bias`, `backbone.layers.${i}.norm.weight`, `backbone.layers.${i}.norm.bias`]),
      manifest.tasks,
    );
    const expertDirs = manifest.tasks.map((task) => path.join(zoo, manifest.experts[task]!));
    const recipe = recipeYaml(recipeFor(space, t.x, { base: path.join(zoo, manifest.base), experts: expertDirs }, { numLayers: space.unitsOf('weight').length }));
    const out = path.join(root, 'trial-merged');
    await mergeToFolder(parseRecipe(recipe, 'trial recipe'), { out, threads: 1 });
    const merged = loadClassifier(out);
    const heads = Object.fromEntries(manifest.tasks.map((task, i) => [task, Object.fromEntries(Object.entries(loadClassifier(expertDirs[i]!).params).filter(([n]) => n.startsWith(`heads.${task}.`)))]));
    const scores = scoreOnZoo(merged.config, merged.params, zoo, 'calibration', { samples: 100, sampleSeed: 0, heads });
    // Backbone tensors here are merged whole (heads are not), so the two paths agree to float32
    // rounding; an accuracy can differ only if a logit tie flips, which the tolerance allows once.
    scores.forEach((sc, i) => expect(Math.abs(sc.accuracy - t.values![i]!)).toBeLessThanOrEqual(0.01));
    expect(scores.map((x) => x.task)).toEqual(manifest.tasks);
  });
});
