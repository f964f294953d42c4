// The sft4 zoo: task generators checked by independent computation, disjoint splits and a
// pretraining mixture that never shows a held-out operand, the tiny build end to end with few steps
// (byte-identical for the same seed, the manifest's roles, default experts and tasks, deltaStats
// equal to a float64 recomputation from the written files, the PT expert's delta above every SFT
// expert's), and the study config key `experts` (default, subsets, refusals) on sft4 and mnist8.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLlamaHost } from '../src/models/llama-load.ts';
import { ZooProblem } from '../src/search/zoo-problem.ts';
import { parseStudyConfig } from '../src/search/study-config.ts';
import { configFromStored, storedConfigOf } from '../src/search/study-identity.ts';
import type { StudyRow } from '../src/study/types.ts';
import { initEngine } from '../src/tensor/engine.ts';
import { seededRandom } from '../src/tensor/random.ts';
import { chooseExperts, familyOfDir, getFamily, selectExperts, zooLayout } from '../src/zoo/registry.ts';
import { buildSft4, type Sft4Manifest } from '../src/zoo/sft4.ts';
import {
  CIPHER_TASK,
  cipherCorpus,
  cipherKey,
  decipher,
  encipher,
  EVAL_SPLITS,
  generateIrrelevant,
  generateSkill,
  heldOutOperands,
  SFT4_ALPHABET,
  SFT4_SKILLS,
  sft4Mixture,
  sft4TaskSplits,
  type Sft4Skill,
} from '../src/zoo/sft4-tasks.ts';
import { expectCode, makeTmp } from './helpers/io-tmp.ts';
import { copyTinyZoo, TINY_MNIST8 } from './helpers/tiny-zoos.ts';

const tmp = makeTmp('ms-sft4-');
afterAll(() => tmp.cleanup());

/** The answer computed independently of solveSkill(): char codes, BigInt sums of reversed digit strings. */
function reference(skill: Sft4Skill, operand: string): string {
  const chars = operand.split('');
  if (skill === 'sort') return chars.sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0)).join('');
  if (skill === 'reverse') return chars.reduce((acc, c) => c + acc, '');
  if (skill === 'shift') return chars.map((c) => (c === 'j' ? 'a' : String.fromCharCode(c.charCodeAt(0) + 1))).join('');
  const [a, b] = operand.split('+').map((x) => BigInt(x.split('').reverse().join('')));
  return (a! + b!).toString().split('').reverse().join('');
}

function operandOf(prompt: string): { skill: Sft4Skill; operand: string; instruction: boolean } {
  const m = /^(q: )?(sort|rev|shift|add) ([a-j0-9+]+)(=| a:)$/.exec(prompt)!;
  expect(m, prompt).not.toBeNull();
  expect(m[1] === 'q: ', prompt).toBe(m[4] === ' a:');
  const skill = ({ sort: 'sort', rev: 'reverse', shift: 'shift', add: 'add' } as const)[m[2] as 'sort']!;
  return { skill, operand: m[3]!, instruction: m[1] === 'q: ' };
}

describe('sft4 generators', () => {
  it('give answers that an independent computation agrees with, in both forms and the stated ranges', () => {
    const rand = seededRandom(7);
    for (const skill of SFT4_SKILLS) {
      for (const form of ['plain', 'instruction'] as const) {
        for (let i = 0; i < 300; i++) {
          const ex = generateSkill(skill, form, rand);
          const p = operandOf(ex.prompt);
          expect(p.skill).toBe(skill);
          expect(p.instruction).toBe(form === 'instruction');
          expect(ex.answer, ex.prompt).toBe(reference(skill, p.operand));
          for (const c of ex.prompt + ex.answer) expect(SFT4_ALPHABET).toContain(c);
          if (skill === 'add') for (const n of p.operand.split('+')) expect(n.length >= 2 && n.length <= 3 && !n.endsWith('0')).toBe(true);
          else expect(p.operand.length >= 3 && p.operand.length <= 8).toBe(true);
        }
      }
    }
    // The cipher: a permutation of the letters, inverted by decipher, digits and symbols kept.
    const key = cipherKey(3);
    expect([...key].sort().join('')).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(key).not.toBe('abcdefghijklmnopqrstuvwxyz');
    expect(cipherKey(3)).toBe(key);
    const text = 'sort dbca=abcd add 12+9=';
    expect(decipher(key, encipher(key, text))).toBe(text);
    expect(encipher(key, text).replace(/[a-z]/g, '')).toBe(text.replace(/[a-z]/g, ''));
    // Irrelevant sets: doubled letters, first letter, random strings.
    const r = seededRandom(1);
    const d = generateIrrelevant('double', r);
    expect(d.answer).toBe([...d.prompt.slice(4, -1)].flatMap((c) => [c, c]).join(''));
    const f = generateIrrelevant('first', r);
    expect(f.answer).toBe(f.prompt[6]);
  });

  it('splits are disjoint, distinct, of the asked sizes; training and pretraining text avoid every held-out operand', () => {
    const sizes = { calibration: 60, validation: 60, test: 100 };
    const heldOut: string[] = [];
    const key = cipherKey(5);
    for (const task of [...SFT4_SKILLS, CIPHER_TASK] as const) {
      const { splits, train, heldOut: used } = sft4TaskSplits(task, 5, sizes, 500);
      const all = EVAL_SPLITS.flatMap((s) => splits[s].map((e) => e.prompt));
      expect(all.length).toBe(220);
      expect(new Set(all).size).toBe(220);
      expect(train.length).toBe(500);
      expect(train.some((e) => used.has(e.prompt))).toBe(false);
      for (const e of [...EVAL_SPLITS.flatMap((s) => splits[s]), ...train]) {
        const plain = task === CIPHER_TASK ? { prompt: decipher(key, e.prompt), answer: decipher(key, e.answer) } : e;
        const p = operandOf(plain.prompt);
        expect(p.instruction).toBe(task !== CIPHER_TASK);
        if (task !== CIPHER_TASK) expect(p.skill).toBe(task);
        expect(plain.answer).toBe(reference(p.skill, p.operand));
      }
      heldOut.push(...used);
    }
    const exclude = heldOutOperands(heldOut, key);
    expect(exclude.size).toBeGreaterThan(1000);
    const mix = sft4Mixture(5, 5000, 0.1, exclude);
    expect(mix.length).toBe(5000);
    const rows = mix.filter((e) => !e.prompt.startsWith('copy ')).map((e) => ({ e, p: operandOf(e.prompt) }));
    for (const { e, p } of rows) {
      expect(exclude.has(`${p.skill} ${p.operand}`), e.prompt).toBe(false);
      expect(e.answer).toBe(reference(p.skill, p.operand));
    }
    // Every skill appears; the instruction form is rare (about 10 % of a skill's rows here).
    for (const skill of SFT4_SKILLS) expect(rows.filter((r) => r.p.skill === skill).length).toBeGreaterThan(800);
    const share = rows.filter((r) => r.p.instruction).length / rows.length;
    expect(share).toBeGreaterThan(0.07);
    expect(share).toBeLessThan(0.13);
    // The cipher language's corpus: enciphered plain rows, no held-out operand either.
    for (const e of cipherCorpus(5, 500, exclude)) {
      const plain = decipher(key, e.prompt);
      if (plain.startsWith('copy ')) continue;
      const p = operandOf(plain);
      expect(p.instruction).toBe(false);
      expect(exclude.has(`${p.skill} ${p.operand}`)).toBe(false);
      expect(decipher(key, e.answer)).toBe(reference(p.skill, p.operand));
    }
  });
});

/** Every file under dir with its bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

const STEPS = { base: 30, experts: 8, pt: 40 };
const SKILLS = ['sort', 'reverse', 'shift', 'add'];
/** The SFT experts: every skill but add, which the base never learns (its expert is an irrelevant one). */
const SFT = ['sort', 'reverse', 'shift'];

describe('tiny sft4 zoo (few steps)', () => {
  let zoo: string;
  let manifest: Sft4Manifest;

  beforeAll(async () => {
    await initEngine('wasm');
    zoo = path.join(tmp.dir, 'a');
    manifest = buildSft4({ out: zoo, seed: 4, tiny: true, steps: STEPS, threads: 1 });
  }, 300_000);

  it('the same seed gives byte-identical folders, the experts trained in this thread or on 2 worker threads', () => {
    const again = path.join(tmp.dir, 'b');
    const lines: string[] = [];
    let clock = 0;
    buildSft4({ out: again, seed: 4, tiny: true, steps: STEPS, threads: 2, onLog: (l) => lines.push(l), now: () => (clock += 1000) });
    const a = filesOf(zoo);
    const b = filesOf(again);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);
    expect(a.has('experts/cipher/model.safetensors')).toBe(true);
    // The workers' log lines reach the caller; the stage times come from the injected clock.
    expect(lines.some((l) => /^expert cipher step 40\/40 loss /.test(l))).toBe(true);
    expect(lines.find((l) => l.startsWith('stage times'))).toMatch(/experts \(8 on 2 threads, base scoring beside them\) \d+\.0/);
  }, 300_000);

  it('writes the manifest the contract names: roles, own tasks, default experts, every task with data', () => {
    expect(manifest.benchmark).toBe('sft4');
    expect(manifest.tasks).toEqual([...SKILLS, 'cipher']);
    expect(Object.keys(manifest.experts)).toEqual([...SKILLS, 'cipher', 'double', 'first', 'noise']);
    expect(manifest.roles).toEqual({ sort: 'sft', reverse: 'sft', shift: 'sft', add: 'irrelevant', cipher: 'pt', double: 'irrelevant', first: 'irrelevant', noise: 'irrelevant' });
    expect(manifest.expertTask).toEqual({ sort: 'sort', reverse: 'reverse', shift: 'shift', add: null, cipher: 'cipher', double: null, first: null, noise: null });
    expect(manifest.defaultExperts).toEqual(SFT);
    expect(manifest.cipherKey).toBe(cipherKey(4));
    for (const dir of [manifest.base, ...Object.values(manifest.experts)]) {
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(fs.existsSync(path.join(zoo, dir, f)), `${dir}/${f}`).toBe(true);
    }
    for (const task of manifest.tasks) for (const s of EVAL_SPLITS) expect(fs.existsSync(path.join(zoo, manifest.data[task]![s]))).toBe(true);
    // Scores: the base and every expert on every task.
    expect(Object.keys(manifest.scores.base)).toEqual(manifest.tasks);
    for (const name of Object.keys(manifest.experts)) expect(Object.keys(manifest.scores.experts[name]!)).toEqual(manifest.tasks);
    expect(manifest.training.experts.cipher!.steps).toBe(STEPS.pt);
    expect(manifest.training.experts.sort!.steps).toBe(STEPS.experts);
  });

  it('deltaStats equal a float64 recomputation from the written files; the PT delta is the largest', () => {
    const base = loadLlamaHost(path.join(zoo, manifest.base)).params;
    for (const [name, rel] of Object.entries(manifest.experts)) {
      const e = loadLlamaHost(path.join(zoo, rel)).params;
      let dd = 0;
      let bb = 0;
      let abs = 0;
      let below = 0;
      let n = 0;
      for (const [t, b] of base) {
        b.values.forEach((v, i) => {
          const d = Number(e.get(t)!.values[i]) - Number(v);
          dd += d * d;
          bb += Number(v) * Number(v);
          abs += Math.abs(d);
          below += Math.abs(d) < 0.005 ? 1 : 0;
          n++;
        });
      }
      const s = manifest.deltaStats[name]!;
      expect(s.relL2, name).toBeCloseTo(Math.sqrt(dd / bb), 7);
      expect(s.meanAbs, name).toBeCloseTo(abs / n, 7);
      expect(s.fracBelow005, name).toBeCloseTo(below / n, 7);
      expect(s.relL2).toBeGreaterThan(0);
    }
    const pt = manifest.deltaStats.cipher!.relL2;
    for (const name of SKILLS) expect(pt, name).toBeGreaterThan(manifest.deltaStats[name]!.relL2);
  });

  it('loads through the registry with every expert; a study merges the default experts unless it names others', () => {
    const loaded = familyOfDir(zoo).load(zoo);
    expect(loaded.family.name).toBe('sft4');
    expect(loaded.expertNames).toEqual(Object.keys(manifest.experts));
    expect(loaded.experts.length).toBe(8);
    const config = (extra: string) =>
      parseStudyConfig(`zoo: ${zoo}\n${extra}space: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all, evaluator: exact_match}\noptimizer: random\nbudget: {trials: 1}\n`);
    const byDefault = new ZooProblem(loaded, config(''));
    expect(byDefault.zoo.expertNames).toEqual(SFT);
    expect(byDefault.zoo.tasks).toEqual(SFT);
    expect(byDefault.objectives.map((o) => (o.kind === 'zoo' ? o.task : ''))).toEqual(SFT);
    expect(byDefault.space.dim).toBeGreaterThan(0);
    // SFT + PT + irrelevant: the irrelevant expert is merged, scored on no task of its own.
    const chosen = new ZooProblem(loaded, config('experts: [sort, cipher, noise]\n'));
    expect(chosen.zoo.expertNames).toEqual(['sort', 'cipher', 'noise']);
    expect(chosen.zoo.expertTasks).toEqual(['sort', 'cipher', null]);
    expect(chosen.zoo.tasks).toEqual(['sort', 'cipher']);
    expect(chosen.zoo.experts[2]).toBe(loaded.experts[7]);
    expect(chosen.space.modelNames).toEqual(['sort', 'cipher', 'noise']);
    const merged = chosen.mergeCandidate(chosen.space.init);
    const name = 'model.norm.weight';
    const values = chosen.score(merged, chosen.objectives).values;
    expect(values.length).toBe(2);
    for (const v of values) expect(v >= 0 && v <= 1).toBe(true);
    expect(merged.get(name)!.values.length).toBe(loaded.base.get(name)!.values.length);
    // The export layout names the same experts.
    const layout = zooLayout(zoo, ['sort', 'cipher', 'noise']);
    expect(layout.expertNames).toEqual(['sort', 'cipher', 'noise']);
    expect(layout.experts).toEqual(['sort', 'cipher', 'noise'].map((n) => path.join(path.resolve(zoo), 'experts', n)));
    expect(layout.tasks).toEqual(['sort', 'cipher']);
    expect(zooLayout(zoo).expertNames).toEqual(SFT);
  });

  it('refuses an unknown, repeated or task-less choice of experts with a coded error', () => {
    const cfg = (experts: string) => `zoo: ${zoo}\nexperts: ${experts}\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all, evaluator: exact_match}\noptimizer: random\nbudget: {trials: 1}\n`;
    expect(expectCode(() => parseStudyConfig(cfg('[sort, revrse]')), 'CONFIG_E_FIELD').message).toMatch(/experts\[1\] is "revrse".*did you mean "reverse"/);
    expectCode(() => parseStudyConfig(cfg('[sort, sort]')), 'CONFIG_E_FIELD', 'twice');
    expectCode(() => parseStudyConfig(cfg('[noise, first]')), 'CONFIG_E_FIELD', 'no task of their own');
    expectCode(() => parseStudyConfig(cfg('[]')), 'CONFIG_E_FIELD', 'experts');
    expectCode(() => parseStudyConfig(cfg('sort')), 'CONFIG_E_FIELD', 'experts');
    expectCode(
      () => parseStudyConfig('checkpoints: {base: a, experts: [b]}\nexperts: [sort]\nspace: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {name: x, evaluator: command, command: "echo {}"}\noptimizer: random\nbudget: {trials: 1}\n'),
      'CONFIG_E_FIELD',
      'checkpoints.experts',
    );
    // A zoo folder not readable at validation time: the name is checked when the zoo is loaded.
    const late = parseStudyConfig(cfg('[sort, nope]').replace(zoo, path.join(tmp.dir, 'not-built-yet')));
    expect(late.experts).toEqual(['sort', 'nope']);
    expectCode(() => selectExperts(familyOfDir(zoo).load(zoo), late.experts, 'study config'), 'CONFIG_E_FIELD', 'nope');
    expect(chooseExperts(manifest, undefined, 'x')).toEqual({ names: SFT, tasks: SFT });
  });

  it('a study stores its experts with its identity (resume, workers, export read them back); none stored when the config names none', () => {
    const text = (extra: string) => `zoo: ${zoo}\n${extra}space: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all, evaluator: exact_match}\noptimizer: random\nbudget: {trials: 1}\n`;
    const row = (config: unknown): StudyRow => ({ id: 1, name: 's', config, backend: 'wasm', seed: 0, optimizer: 'random', created: '', objectives: [] });
    const stored = storedConfigOf(parseStudyConfig(text('experts: [shift, cipher]\n')), null);
    expect(stored.identity.experts).toEqual(['shift', 'cipher']);
    expect(configFromStored(row(stored)).experts).toEqual(['shift', 'cipher']);
    const plain = storedConfigOf(parseStudyConfig(text('')), null);
    expect('experts' in plain.identity).toBe(false);
    expect(configFromStored(row(plain)).experts).toBeUndefined();
  });
});

describe('experts: on mnist8 (an expert per task, scored through its own head)', () => {
  it('merges and scores the chosen experts only, each task through its expert', async () => {
    await initEngine('wasm');
    const zoo = await copyTinyZoo(TINY_MNIST8, path.join(tmp.dir, 'mnist8-tiny'));
    const loaded = getFamily('mnist8')!.load(zoo);
    const all = loaded.expertNames;
    expect(all.length).toBe(8);
    const pickTwo = [all[5]!, all[2]!];
    const cfg = (extra: string) =>
      parseStudyConfig(`zoo: ${zoo}\n${extra}space: {method: task_arithmetic, parameters: {weight: {low: 0, high: 1}}}\nobjectives: {tasks: all, evaluator: accuracy}\noptimizer: random\nbudget: {trials: 1}\n`);
    const p = new ZooProblem(loaded, cfg(`experts: [${pickTwo.join(', ')}]\n`));
    expect(p.zoo.tasks).toEqual(pickTwo);
    expect(p.objectives.map((o) => (o.kind === 'zoo' ? o.task : ''))).toEqual(pickTwo);
    // Each chosen expert alone (task vectors at weight 1 for it, 0 for the other) scores its task as
    // the whole-zoo problem scores that expert on it.
    const full = new ZooProblem(loaded, cfg(''));
    expect(full.zoo.expertNames).toEqual(all);
    const own = (problem: ZooProblem, k: number) => problem.score(new Map(problem.tensors.map((n) => [n, problem.zoo.experts[k]!.get(n)!])), problem.objectives).values;
    const sub0 = own(p, 0);
    const ref0 = own(full, 5);
    expect(sub0[0]).toBeCloseTo(ref0[5]!, 12);
    const sub1 = own(p, 1);
    const ref1 = own(full, 2);
    expect(sub1[1]).toBeCloseTo(ref1[2]!, 12);
    expect(sub0[0]).toBeGreaterThan(0.5);
    expect(expectCode(() => new ZooProblem(loaded, cfg(`experts: [${all[0]}x]\n`)), 'CONFIG_E_FIELD').message).toContain(`did you mean "${all[0]}"`);
  }, 300_000);
});
