// The skills4 zoo: task generators checked by independent computation, disjoint splits, the
// character tokenizer through @huggingface/tokenizers, the tiny build end to end (Hugging Face
// folders that load, byte-identical for the same seed, every expert better than the base on its own
// skill), and the language-model evaluators against direct computations.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactMatch, promptEntropy, tokenLoss } from '../evaluators/index.ts';
import { llamaGenerate, llamaLogits, llamaScore } from '../src/models/llama.ts';
import { loadLlamaCheckpoint, type LoadedLlama } from '../src/models/llama-load.ts';
import { loadTokenizer, writeCharTokenizer } from '../src/models/tokenizer.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { buildSkills4, type Skills4Manifest } from '../src/zoo/skills4.ts';
import { encodeExamples, readSkillData, scoreSkills, stopIds, type SkillScore } from '../src/zoo/skills4-eval.ts';
import { EVAL_SPLITS, generate, pretrainMixture, SKILLS4_ALPHABET, SKILLS4_TASKS, taskSplits, type SkillsGenerator } from '../src/zoo/skills4-tasks.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_SKILLS4 } from './helpers/tiny-zoos.ts';

const tmp = makeTmp('ms-skills4-');
afterAll(() => tmp.cleanup());

/** The answer computed independently of solve(): BigInt sums, Array reversal, a Map lookup. */
function reference(task: SkillsGenerator, prompt: string): string {
  if (task === 'add') {
    const m = /^(\d+)\+(\d+)=$/.exec(prompt)!;
    return (BigInt(m[1]!) + BigInt(m[2]!)).toString();
  }
  if (task === 'lookup') {
    const m = /^((?:[a-z]\d)+)\?([a-z])=$/.exec(prompt)!;
    const pairs = new Map(m[1]!.match(/[a-z]\d/g)!.map((p) => [p[0]!, p[1]!]));
    return pairs.get(m[2]!)!;
  }
  const m = /^(rev|sort|copy) ([a-z]+)=$/.exec(prompt)!;
  const chars = m[2]!.split('');
  return task === 'reverse' ? chars.reverse().join('') : task === 'sort' ? chars.sort().join('') : chars.join('');
}

describe('skills4 generators', () => {
  it('give answers that an independent computation agrees with, in the stated formats and ranges', () => {
    const rand = seededRandom(7);
    for (const task of [...SKILLS4_TASKS, 'copy'] as const) {
      for (const level of ['easy', 'hard'] as const) {
        for (let i = 0; i < 300; i++) {
          const ex = generate(task, level, rand);
          expect(ex.answer, `${task} ${ex.prompt}`).toBe(reference(task, ex.prompt));
          for (const c of ex.prompt + ex.answer) expect(SKILLS4_ALPHABET).toContain(c);
        }
      }
    }
    const r = seededRandom(3);
    const adds = Array.from({ length: 500 }, () => generate('add', 'hard', r).prompt);
    for (const p of adds) for (const n of p.slice(0, -1).split('+')) expect(n.length === 2 && n[0] !== '0').toBe(true);
    expect(new Set(adds.map((p) => reference('add', p).length))).toEqual(new Set([2, 3]));
    // Lookup keys are distinct and the queried key is among them.
    const looks = Array.from({ length: 300 }, () => generate('lookup', 'hard', r).prompt);
    for (const p of looks) {
      const keys = p.split('?')[0]!.match(/[a-z]/g)!;
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBeGreaterThanOrEqual(3);
    }
    expect(generate('add', 'hard', seededRandom(1))).toEqual(generate('add', 'hard', seededRandom(1)));
  });

  it('splits are disjoint, distinct, of the asked sizes, and the training prompts avoid all of them', () => {
    for (const task of SKILLS4_TASKS) {
      const { splits, train } = taskSplits(task, 5, { calibration: 100, validation: 100, test: 200 }, 1000);
      const all = EVAL_SPLITS.flatMap((s) => splits[s].map((e) => e.prompt));
      expect(all.length).toBe(400);
      expect(new Set(all).size).toBe(400);
      expect(train.length).toBe(1000);
      const evalSet = new Set(all);
      expect(train.some((e) => evalSet.has(e.prompt))).toBe(false);
      for (const e of [...all.map((p) => ({ prompt: p, answer: reference(task, p) })), ...train]) expect(e.answer).toBe(reference(task, e.prompt));
    }
    // The pretraining mixture is easy instances: no hard-level prompt of any task's splits.
    const mix = pretrainMixture(5, 2000);
    const hard = new Set(SKILLS4_TASKS.flatMap((t) => EVAL_SPLITS.flatMap((s) => taskSplits(t, 5, { calibration: 100, validation: 100, test: 200 }, 0).splits[s].map((e) => e.prompt))));
    expect(mix.some((e) => hard.has(e.prompt))).toBe(false);
    expect(new Set(mix.map((e) => e.prompt.split(/[ +?]/)[0]!.replace(/\d+|[a-j]\d.*/, '#'))).size).toBeGreaterThanOrEqual(4);
  });
});

describe('character tokenizer', () => {
  it('round-trips through @huggingface/tokenizers with ids in alphabet order after <pad>, <s>, </s>', () => {
    const dir = path.join(tmp.dir, 'tok');
    writeCharTokenizer(dir, SKILLS4_ALPHABET);
    const tok = loadTokenizer(dir);
    expect(tok.vocabSize).toBe(SKILLS4_ALPHABET.length + 3);
    expect([tok.padId, tok.bosId, tok.eosId]).toEqual([0, 1, 2]);
    const text = '12+345=357\nrev abc=cba sort zyx=xyz a1b2?b=2';
    const ids = tok.encode(text);
    expect(ids).toEqual([...text].map((c) => SKILLS4_ALPHABET.indexOf(c) + 3));
    expect(tok.decode(ids)).toBe(text);
    expect(tok.decode([1, ...ids, 2], true)).toBe(`<s>${text}</s>`);
    expect(tok.decode([1, ...ids, 2])).toBe(text);
    expect(tok.tokenId('\n')).toBe(SKILLS4_ALPHABET.indexOf('\n') + 3);
    expectCode(() => tok.encode('ABC', true), 'MODEL_E_PARAMS');
    expectCode(() => tok.encode('abC', true), 'MODEL_E_PARAMS');
    expect(tok.encode('ABC')).toEqual([]);
    expectCode(() => writeCharTokenizer(path.join(tmp.dir, 'tok2'), ['a', 'a']), 'MODEL_E_PARAMS');
    expectCode(() => loadTokenizer(path.join(tmp.dir, 'nowhere')), 'IO_E_NOT_FOUND');
  });
});

describe('tiny skills4 zoo', () => {
  let zoo: string;
  let manifest: Skills4Manifest;
  const scores = new Map<string, SkillScore[]>();
  const score = (model: string) => {
    if (!scores.has(model)) scores.set(model, scoreSkills(path.join(zoo, model), zoo, 'test'));
    return scores.get(model)!;
  };
  const own = (model: string, task: string) => score(model).find((s) => s.task === task)!;

  beforeAll(async () => {
    await initEngine('wasm');
    // The shared cached build (made by buildSkills4 in another process).
    zoo = await copyTinyZoo(TINY_SKILLS4, path.join(tmp.dir, 'skills4-tiny'));
    manifest = JSON.parse(fs.readFileSync(path.join(zoo, 'manifest.json'), 'utf8')) as Skills4Manifest;
  });

  it('writes Hugging Face folders and a manifest naming every checkpoint and split', () => {
    expect(manifest.tasks).toEqual(['add', 'reverse', 'sort', 'lookup']);
    expect(manifest.splits).toEqual({ calibration: 64, validation: 64, test: 128 });
    expect(manifest.model.parameters).toBeGreaterThan(20_000);
    for (const dir of [manifest.base, ...Object.values(manifest.experts)]) {
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(fs.existsSync(path.join(zoo, dir, f)), `${dir}/${f}`).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(zoo, dir, 'config.json'), 'utf8')).architectures).toEqual(['LlamaForCausalLM']);
    }
    for (const task of manifest.tasks) {
      for (const s of EVAL_SPLITS) {
        const data = readSkillData(path.join(zoo, manifest.data[task]![s]));
        expect(data.length).toBe(manifest.splits[s]);
        for (const e of data.slice(0, 20)) expect(e.answer).toBe(reference(task, e.prompt));
      }
    }
    // The manifest's scores are the validation split's, for the base and every expert on every task.
    expect(Object.keys(manifest.scores.experts)).toEqual(['add', 'reverse', 'sort', 'lookup']);
    for (const task of manifest.tasks) expect(manifest.scores.experts[task]![task]!.loss).toBeLessThan(manifest.scores.base[task]!.loss);
  });

  it('the base loads with loadLlamaCheckpoint and its tokenizer round-trips the data', () => {
    const base = loadLlamaCheckpoint(path.join(zoo, 'base'));
    try {
      expect(base.config.architecture).toBe('LlamaForCausalLM');
      expect(base.config.hiddenSize).toBe(manifest.model.hidden);
      expect(base.config.numLayers).toBe(2);
      expect(base.config.numKvHeads).toBe(2);
      expect(base.config.eosTokenIds).toEqual([2]);
      expect(base.params['model.embed_tokens.weight']!.shape).toEqual([manifest.model.vocabSize, manifest.model.hidden]);
    } finally {
      base.dispose();
    }
    const tok = loadTokenizer(path.join(zoo, 'base'));
    for (const e of readSkillData(path.join(zoo, manifest.data.lookup!.test))) expect(tok.decode(tok.encode(e.prompt + e.answer))).toBe(e.prompt + e.answer);
  });

  it('every expert beats the base on its own skill: per-token loss lower by at least 0.2 nats; exact match higher on average', () => {
    const base = new Map(score('base').map((s) => [s.task, s]));
    let emGain = 0;
    for (const task of manifest.tasks) {
      const e = own(manifest.experts[task]!, task);
      const b = base.get(task)!;
      console.log(`tiny skills4 test split, ${task}: base em ${b.exactMatch.toFixed(3)} loss ${b.loss.toFixed(3)}; expert em ${e.exactMatch.toFixed(3)} loss ${e.loss.toFixed(3)}`);
      expect(e.loss, task).toBeLessThan(b.loss - 0.2);
      emGain += (e.exactMatch - b.exactMatch) / manifest.tasks.length;
      expect(e.perplexity).toBeCloseTo(Math.exp(e.loss), 6);
      expect(e.samples).toBe(128);
    }
    expect(emGain).toBeGreaterThan(0.05);
    // The base has learnt the formats from the mixture (far below the uniform loss over the vocabulary).
    expect(base.get('lookup')!.loss).toBeLessThan(Math.log(manifest.model.vocabSize) - 1);
    // Sorting is learnt well enough to be exact on a good share of the test split.
    expect(own(manifest.experts.sort!, 'sort').exactMatch).toBeGreaterThan(base.get('sort')!.exactMatch + 0.1);
  });

  it('the evaluators agree with direct computations (generation, scoring, entropy)', () => {
    const model: LoadedLlama = loadLlamaCheckpoint(path.join(zoo, manifest.experts.sort!));
    const tok = loadTokenizer(path.join(zoo, 'base'));
    try {
      const data = readSkillData(path.join(zoo, manifest.data.sort!.validation)).slice(0, 12);
      const ex = encodeExamples(tok, data);
      const stop = stopIds(tok);
      const em = exactMatch(model.params, model.config, ex, { stop, batchSize: 5 });
      // One prompt at a time, unbatched, decoded to text: the same verdicts.
      ex.forEach((e, i) => {
        const g = llamaGenerate(model.params, model.config, [e.prompt], e.answer.length + 1, { eos: stop })[0]!;
        const cut = g.findIndex((t) => stop.includes(t));
        expect(em.correct[i]).toBe(tok.decode(cut < 0 ? g : g.slice(0, cut)) === data[i]!.answer);
      });
      expect(em.exactMatch).toBeCloseTo(em.correct.filter(Boolean).length / 12, 12);
      const tl = tokenLoss(model.params, model.config, ex, { suffix: [2] });
      const direct = llamaScore(model.params, model.config, ex.map((e) => ({ input: e.prompt, target: [...e.answer, 2] })), { batchSize: 1 });
      expect(tl.tokens).toBe(ex.reduce((a, e) => a + e.answer.length + 1, 0));
      expect(tl.loss).toBeCloseTo(-direct.reduce((a, s) => a + s.logLikelihood, 0) / tl.tokens, 4);
      // Entropy of the next-token distribution after the first prompt, in float64 from its logits.
      const p = ex[0]!.prompt;
      const logits = llamaLogits(model.params, model.config, [p]);
      const last = Array.from(logits.dataSync().slice((p.length - 1) * model.config.vocabSize, p.length * model.config.vocabSize));
      logits.dispose();
      const m = Math.max(...last);
      const z = last.reduce((a, x) => a + Math.exp(x - m), 0);
      const h = -last.reduce((a, x) => a + (Math.exp(x - m) / z) * (x - m - Math.log(z)), 0);
      expect(promptEntropy(model.params, model.config, [p])).toBeCloseTo(h, 4);
      const batched = promptEntropy(model.params, model.config, ex.map((e) => e.prompt), { batchSize: 5 });
      const single = ex.reduce((a, e) => a + promptEntropy(model.params, model.config, [e.prompt]), 0) / ex.length;
      expect(batched).toBeCloseTo(single, 4);
      const all = promptEntropy(model.params, model.config, ex.map((e) => e.prompt), { positions: 'all' });
      expect(all).toBeGreaterThan(0);
      expect(all).toBeLessThan(Math.log(model.config.vocabSize));
    } finally {
      model.dispose();
      expect(tf.memory().numTensors).toBeGreaterThanOrEqual(0);
    }
  });

  it('the same seed gives byte-identical files; another seed differs', () => {
    const steps = { base: 4, experts: 2 };
    const a = path.join(tmp.dir, 'a');
    const b = path.join(tmp.dir, 'b');
    const c = path.join(tmp.dir, 'c');
    buildSkills4({ out: a, seed: 3, tiny: true, steps });
    buildSkills4({ out: b, seed: 3, tiny: true, steps });
    buildSkills4({ out: c, seed: 4, tiny: true, steps });
    for (const f of ['base/model.safetensors', 'experts/lookup/model.safetensors', 'experts/add/model.safetensors', 'base/tokenizer.json', 'data/add/test.json', 'data/sort/calibration.json', 'manifest.json']) {
      expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), f).toBe(true);
    }
    for (const f of ['base/model.safetensors', 'data/add/test.json']) expect(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(c, f))), f).toBe(false);
  });

  it('mergesearch eval scores a checkpoint on the skills4 zoo (JSON)', () => {
    const out = execFileSync(process.execPath, ['bin/mergesearch.js', 'eval', '--model', path.join(zoo, manifest.experts.sort!), '--zoo', zoo, '--split', 'test', '--samples', '32', '--backend', 'wasm', '--json'], { encoding: 'utf8' });
    const r = JSON.parse(out) as { scores: SkillScore[]; meanExactMatch: number };
    expect(r.scores.map((s) => s.task)).toEqual(['add', 'reverse', 'sort', 'lookup']);
    const sortScore = r.scores.find((s) => s.task === 'sort')!;
    expect(sortScore.samples).toBe(32);
    const first32 = scoreSkills(path.join(zoo, manifest.experts.sort!), zoo, 'test', { samples: 32 }).find((s) => s.task === 'sort')!;
    expect(sortScore.exactMatch).toBeCloseTo(first32.exactMatch, 12);
    expect(sortScore.loss).toBeCloseTo(first32.loss, 5);
    expect(r.meanExactMatch).toBeCloseTo(r.scores.reduce((a, s) => a + s.exactMatch, 0) / 4, 12);
  });
});
