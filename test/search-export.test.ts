// Exporting a trial: the folder written by the streaming engine scores what the study recorded
// (same split, same seeded subsample, the checkpoint's own heads), its mergekit_config.yml run again
// by `mergesearch merge` gives the same bytes, the model card names the trial and its place on the
// front, and bad requests fail with codes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { exportTrial } from '../src/search/export.ts';
import { rescoreExport } from '../src/search/rescore.ts';
import { runStudy } from '../src/search/run-study.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { StudyStore } from '../src/study/index.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';
import { expectCodeAsync, runCli } from './helpers/recipe-fixtures.ts';

const tmp = makeTmp('ms-export-');
let db: string;

beforeAll(async () => {
  await initEngine('wasm');
  await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'zoo'));
  db = path.join(tmp.dir, 'studies.db');
  // Layer-wise DARE-TIES weights with one density per expert: random masks (seeded), trimming,
  // sign election and per-layer values all have to survive the trip through the recipe.
  const config = parseStudyConfig(
    `name: dare
seed: 5
zoo: zoo
space:
  method: dare_ties
  granularity: layer
  parameters:
    weight: {low: 0, high: 1}
    density: {low: 0.3, high: 1, granularity: task}
objectives:
  - {tasks: all, evaluator: accuracy}
  - {name: plain_loss, task: plain, evaluator: cross_entropy, split: validation}
samples: 120
optimizer: random
budget: {trials: 4}
`,
    'dare.yaml',
    { dir: tmp.dir },
  );
  await runStudy({ config, db });
});
afterAll(() => tmp.cleanup());

describe('export', () => {
  it('writes a checkpoint that scores exactly what the study recorded', async () => {
    for (const trial of [1, 3]) {
      const out = path.join(tmp.dir, `export-${trial}`);
      const r = await exportTrial({ db, study: 'dare', trial, out, threads: 1 });
      expect(r.files).toEqual(expect.arrayContaining(['model.safetensors', 'config.json', 'mergekit_config.yml', 'README.md']));
      const rows = rescoreExport(db, 'dare', trial, out);
      expect(rows.length).toBe(9);
      for (const row of rows) {
        expect(row.rescored, row.objective).toBeDefined();
        // Accuracies on the same samples must agree exactly; the loss to float32 rounding.
        expect(Math.abs(row.rescored! - row.recorded), row.objective).toBeLessThanOrEqual(row.objective === 'plain_loss' ? 1e-4 : 0);
      }
    }
  });

  it('re-scores against the zoo\'s task list, not the order of the checkpoint\'s heads in config.json', async () => {
    const out = path.join(tmp.dir, 'export-reordered');
    await exportTrial({ db, study: 'dare', trial: 2, out, threads: 1 });
    const file = path.join(out, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(file, 'utf8')) as { tasks: string[] };
    cfg.tasks.reverse();
    fs.writeFileSync(file, JSON.stringify(cfg));
    const rows = rescoreExport(db, 'dare', 2, out);
    expect(rows.map((r) => r.objective).slice(0, 8)).toEqual(JSON.parse(fs.readFileSync(path.join(tmp.dir, 'zoo', 'manifest.json'), 'utf8')).tasks);
    for (const row of rows) expect(Math.abs(row.rescored! - row.recorded), row.objective).toBeLessThanOrEqual(row.objective === 'plain_loss' ? 1e-4 : 0);
  });

  it('writes a recipe that `mergesearch merge` turns into the same bytes', () => {
    const out = path.join(tmp.dir, 'export-1');
    const again = path.join(tmp.dir, 'remerged');
    const r = runCli(['merge', path.join(out, 'mergekit_config.yml'), '--out', again, '--seed', '5', '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(again, 'model.safetensors')).equals(fs.readFileSync(path.join(out, 'model.safetensors')))).toBe(true);
  });

  it('names the models relative to the output folder, compactly: one line per gradient, the heads routed by two filters', () => {
    const out = path.join(tmp.dir, 'export-1');
    const text = fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8');
    expect(text).not.toContain(tmp.dir);
    const recipe = YAML.parse(text) as { base_model: string; models: Array<{ model: string; parameters: { weight: unknown; density: unknown } }> };
    expect(path.resolve(out, recipe.base_model)).toBe(path.join(tmp.dir, 'zoo', 'base'));
    const tasks = (JSON.parse(fs.readFileSync(path.join(tmp.dir, 'zoo', 'manifest.json'), 'utf8')) as { tasks: string[] }).tasks;
    recipe.models.forEach((m, i) => {
      expect(path.resolve(out, m.model)).toBe(path.join(tmp.dir, 'zoo', 'experts', tasks[i]!));
      // layer-wise weights: the expert's own head 1, the other heads 0, then the gradient over the layers
      const weight = m.parameters.weight as Array<{ filter?: string; value: unknown }>;
      expect(weight.slice(0, 2)).toEqual([{ filter: `heads.${tasks[i]}.`, value: 1 }, { filter: 'heads.', value: 0 }]);
      expect(weight[2]!.filter).toBeUndefined();
      expect(Array.isArray(weight[2]!.value)).toBe(true);
      // one searched density per expert; the heads keep density 1
      const density = m.parameters.density as Array<{ filter?: string; value: unknown }>;
      expect(density.length).toBe(2);
      expect(density[0]).toEqual({ filter: 'heads.', value: 1 });
      expect(typeof density[1]!.value).toBe('number');
    });
    // header (3) + method, base, models + per expert: model, parameters, weight + 3 lines, density + 2 lines; global parameters
    expect(text.split('\n').length, text).toBeLessThanOrEqual(6 + tasks.length * 9 + 8);
  });

  it('--recipe-paths absolute writes the paths as this machine sees them', async () => {
    const out = path.join(tmp.dir, 'export-absolute');
    await exportTrial({ db, study: 'dare', trial: 1, out, threads: 1, recipePaths: 'absolute' });
    const recipe = YAML.parse(fs.readFileSync(path.join(out, 'mergekit_config.yml'), 'utf8')) as { base_model: string };
    expect(recipe.base_model).toBe(path.join(tmp.dir, 'zoo', 'base'));
    expect(fs.readFileSync(path.join(out, 'model.safetensors')).equals(fs.readFileSync(path.join(tmp.dir, 'export-1', 'model.safetensors')))).toBe(true);
  });

  it('writes a model card with the trial, its values and its place on the front', () => {
    const card = fs.readFileSync(path.join(tmp.dir, 'export-3', 'README.md'), 'utf8');
    expect(card).toContain('## Search provenance');
    expect(card).toMatch(/study `dare` \(optimizer random, seed 5, backend wasm\), trial 3: (on the Pareto front|dominated by \d+ of 4 completed trials)/);
    const store = StudyStore.open(db, { readonly: true });
    const t = store.trial(store.getStudy('dare').id, 3);
    store.close();
    expect(card).toContain(`| plain_loss | minimize | ${t.values![8]!.toFixed(6)} |`);
    // what the checkpoint is: mnist8's MLP classifiers, not transformers language models
    expect(card).toContain('This is a merge of MLP classifiers');
    expect(card).not.toContain('library_name');
  });

  it('refuses an unknown study, an unknown trial and an output that exists', async () => {
    await expectCodeAsync(() => exportTrial({ db, study: 'nope', trial: 0, out: path.join(tmp.dir, 'x') }), 'STUDY_E_NOT_FOUND', 'nope');
    await expectCodeAsync(() => exportTrial({ db, study: 'dare', trial: 99, out: path.join(tmp.dir, 'x') }), 'STUDY_E_NOT_FOUND', '99');
    await expectCodeAsync(() => exportTrial({ db, study: 'dare', trial: 1, out: path.join(tmp.dir, 'export-1') }), 'IO_E_OUTPUT_EXISTS');
  });

  it('the export verb prints the recorded and re-scored values', () => {
    const r = runCli(['export', '--db', db, '--trial', '2', '--out', path.join(tmp.dir, 'cli-export')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported trial 2 of study dare/);
    const plain = /plain +recorded (\S+) +exported (\S+)/.exec(r.stdout);
    expect(plain?.[1]).toBe(plain?.[2]);
  });
});
