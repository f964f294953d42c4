// The tiny mnist8 zoo end to end: built from the mnist package in seconds, byte-identical for the
// same seed, each expert well above chance on its own task and above the base there, and clear
// errors for a missing zoo, a broken config and a data file of the wrong size.
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../src/tensor/engine.ts';
import { buildMnist8, type Mnist8Manifest } from '../src/zoo/mnist8.ts';
import { missingZooAdvice } from '../src/zoo/registry.ts';
import { readTaskData } from '../src/zoo/task-data.ts';
import { loadClassifier, scoreOnZoo, type TaskScore } from '../src/zoo/zoo-eval.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { runCli } from './helpers/recipe-fixtures.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

const tmp = makeTmp('ms-zoo-');
let zoo: string;
let manifest: Mnist8Manifest;

function score(model: string): TaskScore[] {
  const { config, params } = loadClassifier(path.join(zoo, model));
  try {
    return scoreOnZoo(config, params, zoo, 'test');
  } finally {
    tf.dispose(Object.values(params));
  }
}

beforeAll(async () => {
  await initEngine('wasm');
  // The shared cached build (made by buildMnist8 in another process); the test below builds again
  // here and compares bytes, so the cache cannot hide a builder that is not deterministic.
  zoo = await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'mnist8-tiny'));
  manifest = JSON.parse(fs.readFileSync(path.join(zoo, 'manifest.json'), 'utf8')) as Mnist8Manifest;
});
afterAll(() => tmp.cleanup());

describe('tiny mnist8', () => {
  it('writes a manifest naming the base, 8 experts and 4 splits per task, all present', () => {
    expect(manifest.tasks.length).toBe(8);
    expect(manifest.splits).toEqual({ train: 1200, calibration: 200, validation: 200, test: 400 });
    for (const task of manifest.tasks) {
      expect(fs.existsSync(path.join(zoo, manifest.experts[task]!, 'model.safetensors'))).toBe(true);
      for (const s of ['train', 'calibration', 'validation', 'test'] as const) expect(readTaskData(path.join(zoo, manifest.data[task]![s])).count).toBe(manifest.splits[s]);
    }
  });

  it('a second build with the same seed is byte-identical; another seed differs', () => {
    const again = path.join(tmp.dir, 'again');
    buildMnist8({ out: again, seed: 1, tiny: true });
    for (const f of ['base/model.safetensors', 'experts/blocks/model.safetensors', 'data/noise/test.safetensors', 'manifest.json']) {
      expect(fs.readFileSync(path.join(again, f)).equals(fs.readFileSync(path.join(zoo, f))), f).toBe(true);
    }
    const other = path.join(tmp.dir, 'other');
    buildMnist8({ out: other, seed: 2, tiny: true });
    expect(fs.readFileSync(path.join(other, 'base/model.safetensors')).equals(fs.readFileSync(path.join(zoo, 'base/model.safetensors')))).toBe(false);
  });

  it('each expert scores well above chance (0.1) on its task and above the base there; the base is best on plain', () => {
    const base = new Map(score('base').map((s) => [s.task, s.accuracy]));
    expect(base.get('plain')!).toBeGreaterThan(0.6);
    for (const task of ['rot90', 'rot180', 'invert', 'permute', 'blocks']) expect(base.get(task)!).toBeLessThan(base.get('plain')! - 0.2);
    for (const task of manifest.tasks) {
      const own = score(manifest.experts[task]!).find((s) => s.task === task)!;
      expect(own.accuracy, task).toBeGreaterThan(0.5);
      if (task !== 'plain') expect(own.accuracy, task).toBeGreaterThan(base.get(task)!);
    }
  });
});

describe('scoring options', () => {
  it('a seeded subsample scores exactly that many samples, the same ones for the same seed', () => {
    const { config, params } = loadClassifier(path.join(zoo, 'base'));
    try {
      const a = scoreOnZoo(config, params, zoo, 'calibration', { samples: 50, sampleSeed: 3, tasks: ['plain'] });
      const b = scoreOnZoo(config, params, zoo, 'calibration', { samples: 50, sampleSeed: 3, tasks: ['plain'] });
      expect(a[0]!.samples).toBe(50);
      expect(a[0]!.crossEntropy).toBe(b[0]!.crossEntropy);
      const c = scoreOnZoo(config, params, zoo, 'calibration', { samples: 50, sampleSeed: 4, tasks: ['plain'] });
      expect(c[0]!.crossEntropy).not.toBe(a[0]!.crossEntropy);
    } finally {
      tf.dispose(Object.values(params));
    }
  });

  it('expert heads replace the model\'s own: the base backbone with the rot90 expert\'s head scores like neither alone', () => {
    const base = loadClassifier(path.join(zoo, 'base'));
    const expert = loadClassifier(path.join(zoo, manifest.experts.rot90!));
    try {
      const own = scoreOnZoo(base.config, base.params, zoo, 'test', { tasks: ['rot90'] })[0]!;
      const head = { rot90: { 'heads.rot90.weight': expert.params['heads.rot90.weight']! } };
      const swapped = scoreOnZoo(base.config, base.params, zoo, 'test', { tasks: ['rot90'], heads: head })[0]!;
      expect(swapped.crossEntropy).not.toBe(own.crossEntropy);
      const expertOwn = scoreOnZoo(expert.config, expert.params, zoo, 'test', { tasks: ['rot90'] })[0]!;
      expect(swapped.accuracy).toBeLessThan(expertOwn.accuracy);
    } finally {
      tf.dispose([...Object.values(base.params), ...Object.values(expert.params)]);
    }
  });
});

describe('bad inputs', () => {
  it('a missing zoo folder is named as given; only a built-in zoo\'s default folder gets the build command', () => {
    const nowhere = path.join(tmp.dir, 'nowhere');
    const e = expectCode(() => scoreOnZoo(loadClassifier(path.join(zoo, 'base')).config, {}, nowhere, 'test'), 'IO_E_NOT_FOUND', `no zoo at ${nowhere} `, 'manifest.json', 'check the path');
    expect(e.message).not.toContain('zoo build mnist8');
    expect(missingZooAdvice('zoo/mnist8')).toBe('build it with: npx mergesearch zoo build mnist8');
    expect(missingZooAdvice(path.resolve('zoo', 'mnist8-tiny'))).toBe('build it with: npx mergesearch zoo build mnist8 --tiny');
    expect(missingZooAdvice('zoo/skills4-tiny')).toBe('build it with: npx mergesearch zoo build skills4 --tiny');
    expect(missingZooAdvice('zoo/mnist8-large')).toMatch(/^check the path/);
    expect(missingZooAdvice(nowhere)).toMatch(/^check the path/);
  });

  it('mergesearch eval with an absolute zoo path that does not exist prints that path, not zoo//path', () => {
    const nowhere = path.join(tmp.dir, 'no-such-zoo');
    const r = runCli(['eval', '--model', path.join(zoo, 'base'), '--zoo', nowhere, '--backend', 'wasm']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`no zoo at ${nowhere} (`);
    expect(r.stderr).not.toContain('zoo//');
    expect(r.stderr).not.toContain('zoo build mnist8');
  });

  it('a config.json with a wrong field is IO_E_CONFIG naming the key', () => {
    const bad = path.join(tmp.dir, 'badconfig');
    fs.cpSync(path.join(zoo, 'base'), bad, { recursive: true });
    const cfg = JSON.parse(fs.readFileSync(path.join(bad, 'config.json'), 'utf8'));
    cfg.hidden_sizes = 'wide';
    fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify(cfg));
    expectCode(() => loadClassifier(bad), 'IO_E_CONFIG', 'hidden_sizes');
  });

  it('a data file cut short is IO_E_TRUNCATED naming the file', () => {
    const file = path.join(tmp.dir, 'short.safetensors');
    const full = fs.readFileSync(path.join(zoo, manifest.data.plain!.test));
    fs.writeFileSync(file, full.subarray(0, full.length - 1000));
    expectCode(() => readTaskData(file), 'IO_E_TRUNCATED', file);
  });
});
