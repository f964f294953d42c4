// The sft4 zoo: a LlamaForCausalLM with a character-level tokenizer, pretrained on a generic mixture
// in which every skill appears (plain form, and rarely in the instruction form), then turned into
//   SFT experts        one per skill (sort, reverse, shift, add): few steps at a small learning rate
//                      on the skill's instruction form, answer tokens only → small deltas;
//   a PT expert        `cipher`: continued pretraining, long and at a larger rate, on the generic text
//                      in a new "language" (a fixed letter substitution) → large deltas;
//   irrelevant experts fine-tuned like the SFT experts on unrelated data (doubling letters, the first
//                      letter, random strings), scored on no task.
// Built locally from a seed; the same seed gives byte-identical files. Layout as skills4's (see
// skills4.ts), with the manifest's roles, expertTask, defaultExperts and deltaStats in addition.
import fs from 'node:fs';
import path from 'node:path';
import type { LlamaScoreExample } from '../models/llama.ts';
import { llamaConfigFromJson, llamaParameterShapes } from '../models/llama-config.ts';
import { loadLlamaHost } from '../models/llama-load.ts';
import { encodeExamples } from './skills4-eval.ts';
import { charTokenizerIn, fmtScores, skills4ConfigJson, summarizeParams, writeLlamaCheckpoint, type ModelShape, type SkillSummary, type TrainSettings } from './skills4.ts';
import {
  CIPHER_TASK,
  cipherCorpus,
  cipherKey,
  EVAL_SPLITS,
  generateIrrelevant,
  heldOutOperands,
  IRRELEVANT_SETS,
  SFT4_ALPHABET,
  SFT4_SKILLS,
  sft4Mixture,
  sft4TaskSplits,
  type EvalSplit,
  type IrrelevantSet,
  type SkillExample,
  type Sft4Skill,
  type Sft4Task,
} from './sft4-tasks.ts';
import { seededRandom } from '../tensor/random.ts';
import { initLlamaParams, trainLm } from './train-lm.ts';

export type ExpertRole = 'sft' | 'pt' | 'irrelevant';

export interface DeltaStats {
  /** ‖expert − base‖ / ‖base‖ over every tensor. */
  relL2: number;
  /** Mean |expert − base| over every element. */
  meanAbs: number;
  /** Share of elements with |expert − base| < 0.005. */
  fracBelow005: number;
}

export interface Sft4Options {
  out: string;
  seed?: number;
  tiny?: boolean;
  onLog?: (line: string) => void;
  /** Override the plan's training steps (tests use a few to check determinism cheaply). */
  steps?: { base: number; experts: number; pt?: number };
  /** Experiments only: changes to the plan (probing settings before they become the plan). */
  plan?: Partial<Plan>;
  /** Experiments only: take the base from this folder instead of training it. */
  reuseBase?: string;
  /** Experiments only: build only these experts. */
  only?: string[];
  /** Experiments only: do not score the base (another process of a staged build does). */
  skipBaseScores?: boolean;
}

export interface Sft4Manifest {
  benchmark: 'sft4';
  version: 1;
  seed: number;
  tiny: boolean;
  /** Every scored task: the skills (instruction form) and the PT expert's `cipher`. */
  tasks: Sft4Task[];
  splits: Record<EvalSplit, number>;
  base: string;
  /** Expert name → folder; an SFT or PT expert is named by its task. */
  experts: Record<string, string>;
  roles: Record<string, ExpertRole>;
  expertTask: Record<string, Sft4Task | null>;
  /** What a study merges when it names no experts: the SFT experts. */
  defaultExperts: string[];
  deltaStats: Record<string, DeltaStats>;
  data: Record<string, Record<EvalSplit, string>>;
  model: ModelShape & { parameters: number; vocabSize: number };
  format: { prompt: string; answer: string; stop: string[] };
  /** The cipher task's letter substitution: key[i] replaces the i-th letter of a..z. */
  cipherKey: string;
  training: {
    base: TrainSettings & { mixture: string; instructionShare: number };
    experts: Record<string, TrainSettings & { data: string }>;
  };
  /** On `scores.split`: the base and every expert on every task (exact match, loss per token). */
  scores: { split: EvalSplit; base: Record<string, SkillSummary>; experts: Record<string, Record<string, SkillSummary>> };
}

export interface Plan {
  model: ModelShape;
  splits: Record<EvalSplit, number>;
  /** Share of each skill's mixture rows in the instruction form. */
  instructionShare: number;
  base: TrainSettings;
  sft: TrainSettings;
  /** Per-skill changes to the SFT settings (a skill the base knows less gets more steps). */
  sftOverrides: Partial<Record<Sft4Skill, Partial<Omit<TrainSettings, 'examples'>>>>;
  pt: TrainSettings;
  irrelevant: TrainSettings;
  scoreSamples: number;
}

const FULL: Plan = {
  model: { hidden: 192, intermediate: 512, layers: 4, heads: 6, kvHeads: 2 },
  splits: { calibration: 256, validation: 256, test: 512 },
  instructionShare: 0.03,
  base: { steps: 900, batchSize: 32, learningRate: 2e-3, warmup: 50, minLrFraction: 0.1, examples: 40000 },
  sft: { steps: 120, batchSize: 32, learningRate: 3e-4, warmup: 10, minLrFraction: 0.1, examples: 4000 },
  sftOverrides: {},
  pt: { steps: 400, batchSize: 32, learningRate: 1.5e-3, warmup: 30, minLrFraction: 0.1, examples: 20000 },
  irrelevant: { steps: 120, batchSize: 32, learningRate: 3e-4, warmup: 10, minLrFraction: 0.1, examples: 4000 },
  scoreSamples: 256,
};

const TINY: Plan = {
  model: { hidden: 48, intermediate: 128, layers: 2, heads: 4, kvHeads: 2 },
  splits: { calibration: 64, validation: 64, test: 128 },
  instructionShare: 0.05,
  base: { steps: 300, batchSize: 32, learningRate: 3e-3, warmup: 20, minLrFraction: 0.1, examples: 6000 },
  sft: { steps: 60, batchSize: 32, learningRate: 1e-3, warmup: 5, minLrFraction: 0.1, examples: 1000 },
  sftOverrides: {},
  pt: { steps: 200, batchSize: 32, learningRate: 3e-3, warmup: 10, minLrFraction: 0.1, examples: 4000 },
  irrelevant: { steps: 60, batchSize: 32, learningRate: 1e-3, warmup: 5, minLrFraction: 0.1, examples: 1000 },
  scoreSamples: 64,
};

/** Delta statistics of an expert against the base, over every tensor (float64 sums). */
export function deltaStats(base: Record<string, Float32Array>, expert: Record<string, Float32Array>): DeltaStats {
  let dd = 0;
  let bb = 0;
  let abs = 0;
  let below = 0;
  let n = 0;
  for (const [name, b] of Object.entries(base)) {
    const e = expert[name];
    if (!e || e.length !== b.length) throw new Error(`expert tensor ${name} is missing or has another size`);
    for (let i = 0; i < b.length; i++) {
      const d = e[i]! - b[i]!;
      dd += d * d;
      bb += b[i]! * b[i]!;
      abs += Math.abs(d);
      if (Math.abs(d) < 0.005) below++;
    }
    n += b.length;
  }
  return { relL2: Math.sqrt(dd / bb), meanAbs: abs / n, fracBelow005: below / n };
}

export function buildSft4(o: Sft4Options): Sft4Manifest {
  const seed = o.seed ?? 0;
  const plan: Plan = { ...(o.tiny ? TINY : FULL), ...o.plan };
  const settings = {
    base: { ...plan.base, steps: o.steps?.base ?? plan.base.steps },
    sft: { ...plan.sft, steps: o.steps?.experts ?? plan.sft.steps },
    pt: { ...plan.pt, steps: o.steps?.pt ?? o.steps?.experts ?? plan.pt.steps },
    irrelevant: { ...plan.irrelevant, steps: o.steps?.experts ?? plan.irrelevant.steps },
  };
  const sftSettings = (skill: Sft4Skill): TrainSettings => ({ ...settings.sft, ...plan.sftOverrides[skill], ...(o.steps ? { steps: o.steps.experts } : {}) });
  const log = o.onLog ?? (() => {});
  const out = path.resolve(o.out);
  fs.mkdirSync(out, { recursive: true });
  const { tokFiles, tok } = charTokenizerIn(out, SFT4_ALPHABET);
  const configJson = skills4ConfigJson(plan.model, tok.vocabSize);
  const config = llamaConfigFromJson(configJson, 'sft4 config');
  // Answer tokens only (SFT), or the whole text after <s> (continued pretraining).
  const toTraining = (examples: SkillExample[]): LlamaScoreExample[] =>
    encodeExamples(tok, examples).map((e) => ({ input: e.prompt, target: [...e.answer, tok.eosId!] }));
  const toText = (examples: SkillExample[]): LlamaScoreExample[] =>
    encodeExamples(tok, examples).map((e) => ({ input: [e.prompt[0]!], target: [...e.prompt.slice(1), ...e.answer, tok.eosId!] }));

  // Data: the scored tasks' splits and SFT training sets.
  const tasks: Sft4Task[] = [...SFT4_SKILLS, CIPHER_TASK];
  const key = cipherKey(seed);
  const data: Sft4Manifest['data'] = {};
  const evalSets = new Map<Sft4Task, Record<EvalSplit, SkillExample[]>>();
  const trainSets = new Map<Sft4Task, SkillExample[]>();
  const heldOut: string[] = [];
  for (const task of tasks) {
    const { splits, train, heldOut: used } = sft4TaskSplits(task, seed, plan.splits, task === CIPHER_TASK ? 0 : settings.sft.examples);
    heldOut.push(...used);
    evalSets.set(task, splits);
    trainSets.set(task, train);
    data[task] = {} as Record<EvalSplit, string>;
    fs.mkdirSync(path.join(out, 'data', task), { recursive: true });
    for (const s of EVAL_SPLITS) {
      const rel = path.join('data', task, `${s}.json`);
      fs.writeFileSync(path.join(out, rel), JSON.stringify({ task, split: s, examples: splits[s] }) + '\n');
      data[task]![s] = rel;
    }
  }
  const exclude = heldOutOperands(heldOut, key);
  log(`data: ${tasks.length} tasks × ${EVAL_SPLITS.map((s) => `${s} ${plan.splits[s]}`).join(', ')}`);

  const writeModel = (rel: string, params: Record<string, Float32Array>) => writeLlamaCheckpoint(path.join(out, rel), config, configJson, params, tokFiles);
  const scoreSplit: EvalSplit = 'validation';
  const summarize = (params: Record<string, Float32Array>) => summarizeParams(config, tok, params, tasks.map((t) => [t, evalSets.get(t)![scoreSplit].slice(0, plan.scoreSamples)]));

  // Base: the generic mixture.
  let t0 = Date.now();
  let base: Record<string, Float32Array>;
  if (o.reuseBase) base = Object.fromEntries([...loadLlamaHost(o.reuseBase).params].map(([k, v]) => [k, v.values]));
  else {
    const mixture = toTraining(sft4Mixture(seed, settings.base.examples, plan.instructionShare, exclude));
    base = trainLm(config, initLlamaParams(config, seed), mixture, {
      ...settings.base,
      seed,
      onLog: (step, loss) => log(`base step ${step}/${settings.base.steps} loss ${loss.toFixed(4)}`),
    });
  }
  writeModel('base', base);
  const baseScores = o.skipBaseScores ? {} : summarize(base);
  log(`base trained in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${fmtScores(baseScores)}`);

  // Experts, each from the base.
  interface ExpertSpec {
    name: string;
    role: ExpertRole;
    task: Sft4Task | null;
    settings: TrainSettings;
    data: string;
    train: () => LlamaScoreExample[];
  }
  const irrelevantSet = (set: IrrelevantSet, n: number) => {
    const rand = seededRandom((seed ^ (0x1e1e + 104729 * (IRRELEVANT_SETS.indexOf(set) + 1))) >>> 0);
    return Array.from({ length: n }, () => generateIrrelevant(set, rand));
  };
  const pt: ExpertSpec = { name: CIPHER_TASK, role: 'pt', task: CIPHER_TASK, settings: settings.pt, data: 'the generic text (plain form of every skill) in the cipher language, every token', train: () => toText(cipherCorpus(seed, settings.pt.examples, exclude)) };
  const specs: ExpertSpec[] = [
    ...SFT4_SKILLS.map((skill): ExpertSpec => ({ name: skill, role: 'sft', task: skill, settings: sftSettings(skill), data: `${skill}, instruction form`, train: () => toTraining(trainSets.get(skill)!) })),
    pt,
    ...IRRELEVANT_SETS.map((set): ExpertSpec => ({ name: set, role: 'irrelevant', task: null, settings: settings.irrelevant, data: set === 'noise' ? 'random strings to random strings' : `the unrelated skill ${set}`, train: () => toTraining(irrelevantSet(set, settings.irrelevant.examples)) })),
  ];

  const experts: Record<string, string> = {};
  const roles: Record<string, ExpertRole> = {};
  const expertTask: Record<string, Sft4Task | null> = {};
  const stats: Record<string, DeltaStats> = {};
  const expertScores: Record<string, Record<string, SkillSummary>> = {};
  for (const [k, spec] of specs.entries()) {
    if (o.only && !o.only.includes(spec.name)) continue;
    t0 = Date.now();
    const params = trainLm(config, base, spec.train(), {
      ...spec.settings,
      seed: (seed + 1000 * (k + 1)) >>> 0,
      onLog: (step, loss) => log(`expert ${spec.name} step ${step}/${spec.settings.steps} loss ${loss.toFixed(4)}`),
    });
    experts[spec.name] = path.join('experts', spec.name);
    roles[spec.name] = spec.role;
    expertTask[spec.name] = spec.task;
    writeModel(experts[spec.name]!, params);
    stats[spec.name] = roundStats(deltaStats(base, params));
    expertScores[spec.name] = summarize(params);
    log(`expert ${spec.name} (${spec.role}) trained in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${fmtScores(expertScores[spec.name]!)}; delta relL2 ${stats[spec.name]!.relL2} meanAbs ${stats[spec.name]!.meanAbs} <0.005 ${stats[spec.name]!.fracBelow005}`);
  }

  const parameters = llamaParameterShapes(config).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const manifest: Sft4Manifest = {
    benchmark: 'sft4',
    version: 1,
    seed,
    tiny: o.tiny ?? false,
    tasks,
    splits: { ...plan.splits },
    base: 'base',
    experts,
    roles,
    expertTask,
    defaultExperts: specs.filter((s) => s.role === 'sft').map((s) => s.name),
    deltaStats: stats,
    data,
    model: { ...plan.model, parameters, vocabSize: tok.vocabSize },
    format: { prompt: '<s> + prompt text (e.g. "q: sort dbca a:")', answer: 'answer text, then </s>', stop: ['</s>', '\n'] },
    cipherKey: key,
    training: {
      base: { ...settings.base, instructionShare: plan.instructionShare, mixture: `copy and every skill (${SFT4_SKILLS.join(', ')}) in plain form, each skill in instruction form at ${plan.instructionShare} of its rows; answer tokens only` },
      experts: Object.fromEntries(specs.filter((s) => s.name in experts).map((s) => [s.name, { ...s.settings, data: s.data }])),
    },
    scores: { split: scoreSplit, base: baseScores, experts: expertScores },
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

const roundStats = (s: DeltaStats): DeltaStats => ({ relL2: round8(s.relL2), meanAbs: round8(s.meanAbs), fracBelow005: round8(s.fracBelow005) });
const round8 = (x: number) => Math.round(x * 1e8) / 1e8;
