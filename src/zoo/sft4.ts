// The sft4 zoo: a LlamaForCausalLM with a character-level tokenizer, pretrained on a generic mixture
// in which every skill appears (plain form, and rarely in the instruction form), then turned into
//   SFT experts        one per skill (sort, reverse, shift): few steps at a small learning rate
//                      on the skill's instruction form, answer tokens only → small deltas (add's
//                      expert is trained alike but does not learn: see UNLEARNT_SKILLS);
//   a PT expert        `cipher`: continued pretraining, long and at a larger rate, on the generic text
//                      in a new "language" (a fixed letter substitution) → large deltas;
//   irrelevant experts fine-tuned like the SFT experts on unrelated data (doubling letters, the first
//                      letter, random strings), scored on no task.
// Built locally from a seed; the same seed gives byte-identical files. Layout as skills4's (see
// skills4.ts), with the manifest's roles, expertTask, defaultExperts and deltaStats in addition.
import fs from 'node:fs';
import path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { LlamaScoreExample } from '../models/llama.ts';
import { llamaConfigFromJson, llamaParameterShapes, type LlamaConfig } from '../models/llama-config.ts';
import { loadLlamaHost } from '../models/llama-load.ts';
import { encodeExamples } from './skills4-eval.ts';
import { answerTraining, charTokenizerIn, fmtScores, skills4ConfigJson, summarizeParams, writeLlamaCheckpoint, writeTaskSplits, type ModelShape, type SkillSummary, type TrainSettings } from './skills4.ts';
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
  /** Worker threads that train the experts (default DEFAULT_BUILD_THREADS; 1: in this thread). Same files either way. */
  threads?: number;
  /** Clock for the stage times in the log (tests inject one). */
  now?: () => number;
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
  /**
   * Share of the PT expert's examples replayed from the base's own pretraining mixture (answer
   * tokens, as the base trained); the rest is the cipher text (every token). Continued pretraining
   * replays the original data so the model keeps what it knew.
   */
  ptReplayShare: number;
  irrelevant: TrainSettings;
  scoreSamples: number;
}

const FULL: Plan = {
  model: { hidden: 192, intermediate: 512, layers: 4, heads: 6, kvHeads: 2 },
  splits: { calibration: 256, validation: 256, test: 512 },
  instructionShare: 0.03,
  base: { steps: 900, batchSize: 32, learningRate: 2e-3, warmup: 50, minLrFraction: 0.1, examples: 40000 },
  sft: { steps: 120, batchSize: 32, learningRate: 3e-4, warmup: 10, minLrFraction: 0.1, examples: 4000 },
  // Sorting sharpens slowest (measured on seed 0: 120 steps reach 71.9 % exact match, 300 steps 85.2 %).
  sftOverrides: { sort: { steps: 300 } },
  // Measured on seed 0 (validation EM): without replay 400 steps at 1.5e-3 reach cipher 71.9 % and
  // forget every skill (0-0.4 %); half replay, 400 steps at 2e-3: cipher 67.6 %, sort 31.6 /
  // reverse 27.7 / shift 46.1 (base 36.7 / 37.5 / 37.9), relL2 0.18.
  pt: { steps: 400, batchSize: 32, learningRate: 2e-3, warmup: 30, minLrFraction: 0.1, examples: 20000 },
  ptReplayShare: 0.5,
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
  ptReplayShare: 0.5,
  irrelevant: { steps: 60, batchSize: 32, learningRate: 1e-3, warmup: 5, minLrFraction: 0.1, examples: 1000 },
  scoreSamples: 64,
};

/**
 * Skills whose SFT expert does not learn them (measured on seed 0: the base scores 0 % on `add` in
 * either form after pretraining, and its 120-step expert 0 %, as do 120 steps at 1e-3 and 300 at
 * 2e-3). The skill stays in the pretraining mixture and among the scored tasks (the base must not
 * change), but its expert is an irrelevant one: no own task, not among the default experts.
 */
export const UNLEARNT_SKILLS: readonly Sft4Skill[] = ['add'];

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

/** What an expert's training needs from the build's options: plain data, so a worker thread gets it too. */
export interface Sft4Setup {
  out: string;
  seed?: number;
  tiny?: boolean;
  steps?: Sft4Options['steps'];
  plan?: Partial<Plan>;
}

interface ExpertSpec {
  name: string;
  role: ExpertRole;
  task: Sft4Task | null;
  settings: TrainSettings;
  data: string;
  train: () => LlamaScoreExample[];
}

/** Everything of a build that is decided by its options (no file but a temporary tokenizer folder written). */
interface Sft4Context {
  seed: number;
  plan: Plan;
  settings: { base: TrainSettings; sft: TrainSettings; pt: TrainSettings; irrelevant: TrainSettings };
  out: string;
  tokFiles: Record<string, string>;
  configJson: Record<string, unknown>;
  config: LlamaConfig;
  tasks: Sft4Task[];
  key: string;
  evalSets: Map<Sft4Task, Record<EvalSplit, SkillExample[]>>;
  exclude: Set<string>;
  baseMixture: () => LlamaScoreExample[];
  specs: ExpertSpec[];
  scoreSplit: EvalSplit;
  summarize: (params: Record<string, Float32Array>) => Record<string, SkillSummary>;
}

function sft4Context(o: Sft4Setup): Sft4Context {
  const seed = o.seed ?? 0;
  const plan: Plan = { ...(o.tiny ? TINY : FULL), ...o.plan };
  const settings = {
    base: { ...plan.base, steps: o.steps?.base ?? plan.base.steps },
    sft: { ...plan.sft, steps: o.steps?.experts ?? plan.sft.steps },
    pt: { ...plan.pt, steps: o.steps?.pt ?? o.steps?.experts ?? plan.pt.steps },
    irrelevant: { ...plan.irrelevant, steps: o.steps?.experts ?? plan.irrelevant.steps },
  };
  const sftSettings = (skill: Sft4Skill): TrainSettings => ({ ...settings.sft, ...plan.sftOverrides[skill], ...(o.steps ? { steps: o.steps.experts } : {}) });
  const out = path.resolve(o.out);
  fs.mkdirSync(out, { recursive: true });
  const { tokFiles, tok } = charTokenizerIn(out, SFT4_ALPHABET);
  const configJson = skills4ConfigJson(plan.model, tok.vocabSize);
  const config = llamaConfigFromJson(configJson, 'sft4 config');
  // Answer tokens only (SFT), or the whole text after <s> (continued pretraining).
  const toTraining = (examples: SkillExample[]) => answerTraining(tok, examples);
  const toText = (examples: SkillExample[]): LlamaScoreExample[] =>
    encodeExamples(tok, examples).map((e) => ({ input: [e.prompt[0]!], target: [...e.prompt.slice(1), ...e.answer, tok.eosId!] }));

  // Data: the scored tasks' splits and SFT training sets.
  const tasks: Sft4Task[] = [...SFT4_SKILLS, CIPHER_TASK];
  const key = cipherKey(seed);
  const evalSets = new Map<Sft4Task, Record<EvalSplit, SkillExample[]>>();
  const trainSets = new Map<Sft4Task, SkillExample[]>();
  const heldOut: string[] = [];
  for (const task of tasks) {
    const { splits, train, heldOut: used } = sft4TaskSplits(task, seed, plan.splits, task === CIPHER_TASK ? 0 : settings.sft.examples);
    heldOut.push(...used);
    evalSets.set(task, splits);
    trainSets.set(task, train);
  }
  const exclude = heldOutOperands(heldOut, key);
  const scoreSplit: EvalSplit = 'validation';
  const summarize = (params: Record<string, Float32Array>) => summarizeParams(config, tok, params, tasks.map((t) => [t, evalSets.get(t)![scoreSplit].slice(0, plan.scoreSamples)]));

  const irrelevantSet = (set: IrrelevantSet, n: number) => {
    const rand = seededRandom((seed ^ (0x1e1e + 104729 * (IRRELEVANT_SETS.indexOf(set) + 1))) >>> 0);
    return Array.from({ length: n }, () => generateIrrelevant(set, rand));
  };
  const replay = Math.round(settings.pt.examples * plan.ptReplayShare);
  const pt: ExpertSpec = {
    name: CIPHER_TASK,
    role: 'pt',
    task: CIPHER_TASK,
    settings: settings.pt,
    data: `the generic text (plain form of every skill) in the cipher language, every token${replay > 0 ? `, mixed with ${replay} rows of the base's pretraining mixture replayed (answer tokens)` : ''}`,
    train: () => [...toText(cipherCorpus(seed, settings.pt.examples - replay, exclude)), ...toTraining(sft4Mixture((seed ^ 0x7e9a) >>> 0, replay, plan.instructionShare, exclude))],
  };
  const specs: ExpertSpec[] = [
    ...SFT4_SKILLS.map((skill): ExpertSpec => {
      const unlearnt = UNLEARNT_SKILLS.includes(skill);
      const data = `${skill}, instruction form${unlearnt ? ' (it did not learn: the base never learnt the skill, so it is kept as an irrelevant expert)' : ''}`;
      return { name: skill, role: unlearnt ? 'irrelevant' : 'sft', task: unlearnt ? null : skill, settings: sftSettings(skill), data, train: () => toTraining(trainSets.get(skill)!) };
    }),
    pt,
    ...IRRELEVANT_SETS.map((set): ExpertSpec => ({ name: set, role: 'irrelevant', task: null, settings: settings.irrelevant, data: set === 'noise' ? 'random strings to random strings' : `the unrelated skill ${set}`, train: () => toTraining(irrelevantSet(set, settings.irrelevant.examples)) })),
  ];
  const baseMixture = () => toTraining(sft4Mixture(seed, settings.base.examples, plan.instructionShare, exclude));
  return { seed, plan, settings, out, tokFiles, configJson, config, tasks, key, evalSets, exclude, baseMixture, specs, scoreSplit, summarize };
}

export interface ExpertResult {
  k: number;
  params: Record<string, Float32Array>;
  scores: Record<string, SkillSummary>;
  trainSeconds: number;
  scoreSeconds: number;
}

/** Trains the k-th expert of the plan from the base and scores it; its seed depends on k alone. */
function trainExpert(c: Sft4Context, k: number, base: Record<string, Float32Array>, log: (line: string) => void, now: () => number = Date.now): ExpertResult {
  const spec = c.specs[k]!;
  const t0 = now();
  const params = trainLm(c.config, base, spec.train(), {
    ...spec.settings,
    seed: (c.seed + 1000 * (k + 1)) >>> 0,
    onLog: (step, loss) => log(`expert ${spec.name} step ${step}/${spec.settings.steps} loss ${loss.toFixed(4)}`),
  });
  const t1 = now();
  const scores = c.summarize(params);
  return { k, params, scores, trainSeconds: (t1 - t0) / 1000, scoreSeconds: (now() - t1) / 1000 };
}

/** A worker thread's side (sft4-worker.ts): the context of `setup`, then one expert per request. */
export function sft4ExpertTrainer(setup: Sft4Setup, log: (line: string) => void): (k: number, base: Record<string, Float32Array>) => ExpertResult {
  const c = sft4Context(setup);
  return (k, base) => trainExpert(c, k, base, log);
}

/** Experts trained on a build by default at once, each on its own worker thread (one tfjs instance each). */
export const DEFAULT_BUILD_THREADS = 2;

export function buildSft4(o: Sft4Options): Sft4Manifest {
  const log = o.onLog ?? (() => {});
  const now = o.now ?? Date.now;
  const cpu0 = process.cpuUsage();
  // Each stage's wall time, and the process's CPU time over it (every thread: the workers' included).
  const stages: Array<[string, number, number]> = [];
  let t0 = now();
  let c0 = process.cpuUsage();
  const stage = (name: string) => {
    const c = process.cpuUsage(c0);
    stages.push([name, (now() - t0) / 1000, (c.user + c.system) / 1e6]);
    t0 = now();
    c0 = process.cpuUsage();
  };
  const setup: Sft4Setup = { out: o.out, seed: o.seed, tiny: o.tiny, steps: o.steps, plan: o.plan };
  const c = sft4Context(setup);
  const { seed, plan, settings, out, tasks, config, configJson, tokFiles } = c;
  const data: Sft4Manifest['data'] = {};
  for (const task of tasks) data[task] = writeTaskSplits(out, task, c.evalSets.get(task)!);
  log(`data: ${tasks.length} tasks × ${EVAL_SPLITS.map((s) => `${s} ${plan.splits[s]}`).join(', ')}`);
  stage('data');

  const writeModel = (rel: string, params: Record<string, Float32Array>) => writeLlamaCheckpoint(path.join(out, rel), config, configJson, params, tokFiles);

  // Base: the generic mixture.
  let base: Record<string, Float32Array>;
  if (o.reuseBase) base = Object.fromEntries([...loadLlamaHost(o.reuseBase).params].map(([k, v]) => [k, v.values]));
  else {
    base = trainLm(config, initLlamaParams(config, seed), c.baseMixture(), {
      ...settings.base,
      seed,
      onLog: (step, loss) => log(`base step ${step}/${settings.base.steps} loss ${loss.toFixed(4)}`),
    });
  }
  writeModel('base', base);
  stage(o.reuseBase ? 'base (loaded)' : 'base training');
  let baseScores: Record<string, SkillSummary> = {};
  const scoreBase = () => {
    const t = now();
    if (!o.skipBaseScores) baseScores = c.summarize(base);
    log(`base scores (${((now() - t) / 1000).toFixed(1)} s): ${fmtScores(baseScores)}`);
  };

  // Experts, each from the base: in this thread one after another, or on worker threads.
  const experts: Record<string, string> = {};
  const roles: Record<string, ExpertRole> = {};
  const expertTask: Record<string, Sft4Task | null> = {};
  const stats: Record<string, DeltaStats> = {};
  const expertScores: Record<string, Record<string, SkillSummary>> = {};
  const jobs = c.specs.flatMap((spec, k) => (o.only && !o.only.includes(spec.name) ? [] : [k]));
  const threads = Math.max(1, Math.min(o.threads ?? DEFAULT_BUILD_THREADS, jobs.length));
  const perExpert: string[] = [];
  const finish = (r: ExpertResult) => {
    const spec = c.specs[r.k]!;
    experts[spec.name] = path.join('experts', spec.name);
    roles[spec.name] = spec.role;
    expertTask[spec.name] = spec.task;
    writeModel(experts[spec.name]!, r.params);
    stats[spec.name] = roundStats(deltaStats(base, r.params));
    expertScores[spec.name] = r.scores;
    perExpert.push(`${spec.name} ${r.trainSeconds.toFixed(1)} + ${r.scoreSeconds.toFixed(1)}`);
    log(`expert ${spec.name} (${spec.role}) trained in ${r.trainSeconds.toFixed(1)} s, scored in ${r.scoreSeconds.toFixed(1)} s: ${fmtScores(r.scores)}; delta relL2 ${stats[spec.name]!.relL2} meanAbs ${stats[spec.name]!.meanAbs} <0.005 ${stats[spec.name]!.fracBelow005}`);
  };
  if (threads === 1 || jobs.length === 0) {
    scoreBase();
    stage('base scoring');
    for (const k of jobs) finish(trainExpert(c, k, base, log, now));
  } else {
    // The longest first (steps × examples' share of every-token text is not known here: steps), so
    // the threads end together; each result is the same as the serial path's (same seed per k).
    const order = [...jobs].sort((a, b) => c.specs[b]!.settings.steps - c.specs[a]!.settings.steps || a - b);
    trainExpertsOnThreads(setup, base, order, threads, finish, scoreBase, log);
  }
  stage(`experts (${jobs.length} on ${threads} thread${threads === 1 ? '' : 's'}${threads > 1 ? ', base scoring beside them' : ''})`);
  // Results arrive in any order: the manifest lists experts in the plan's order.
  const inPlanOrder = <T>(r: Record<string, T>) => Object.fromEntries(c.specs.filter((s) => s.name in r).map((s) => [s.name, r[s.name]!]));

  const parameters = llamaParameterShapes(config).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  const manifest: Sft4Manifest = {
    benchmark: 'sft4',
    version: 1,
    seed,
    tiny: o.tiny ?? false,
    tasks,
    splits: { ...plan.splits },
    base: 'base',
    experts: inPlanOrder(experts),
    roles: inPlanOrder(roles),
    expertTask: inPlanOrder(expertTask),
    defaultExperts: c.specs.filter((s) => s.role === 'sft').map((s) => s.name),
    deltaStats: inPlanOrder(stats),
    data,
    model: { ...plan.model, parameters, vocabSize: configJson.vocab_size as number },
    format: { prompt: '<s> + prompt text (e.g. "q: sort dbca a:")', answer: 'answer text, then </s>', stop: ['</s>', '\n'] },
    cipherKey: c.key,
    training: {
      base: { ...settings.base, instructionShare: plan.instructionShare, mixture: `copy and every skill (${SFT4_SKILLS.join(', ')}) in plain form, each skill in instruction form at ${plan.instructionShare} of its rows; answer tokens only` },
      experts: Object.fromEntries(c.specs.filter((s) => s.name in experts).map((s) => [s.name, { ...s.settings, data: s.data }])),
    },
    scores: { split: c.scoreSplit, base: baseScores, experts: inPlanOrder(expertScores) },
  };
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const cpu = process.cpuUsage(cpu0);
  log(`stage times (wall s / CPU s of every thread): ${stages.map(([n, s, cs]) => `${n} ${s.toFixed(1)} / ${cs.toFixed(1)}`).join('; ')}`);
  if (perExpert.length > 0) log(`expert times (train + score wall s, each on one thread): ${perExpert.join('; ')}`);
  log(`CPU time of the whole build (every thread): ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
  return manifest;
}

/**
 * Trains the experts `order` on `threads` worker threads (src/zoo/sft4-worker.ts), the next job to
 * the first thread free, calling `finish` with each result as it comes and `meanwhile` once the
 * threads are busy. Blocks this thread (the build is synchronous): the workers bump a shared counter
 * after every message, and this thread waits on it and reads their ports synchronously.
 */
function trainExpertsOnThreads(setup: Sft4Setup, base: Record<string, Float32Array>, order: number[], threads: number, finish: (r: ExpertResult) => void, meanwhile: () => void, log: (line: string) => void): void {
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const backend = tf.getBackend();
  const workers = Array.from({ length: threads }, () => {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL('./sft4-worker-entry.mjs', import.meta.url), { workerData: { port: port2, signal, setup, base, backend }, transferList: [port2] });
    return { worker, port: port1 };
  });
  const queue = [...order];
  let pending = order.length;
  try {
    for (const w of workers) {
      const k = queue.shift();
      if (k !== undefined) w.worker.postMessage({ k });
    }
    meanwhile();
    let seen = 0;
    while (pending > 0) {
      Atomics.wait(signal, 0, seen, 1000);
      seen = Atomics.load(signal, 0);
      for (const w of workers) {
        for (let m = receiveMessageOnPort(w.port); m; m = receiveMessageOnPort(w.port)) {
          const msg = m.message as { log?: string; error?: { message: string; stack?: string }; result?: ExpertResult };
          if (msg.log !== undefined) log(msg.log);
          else if (msg.error) throw new Error(`an expert's worker thread failed: ${msg.error.message}${msg.error.stack ? `\n${msg.error.stack}` : ''}`);
          else if (msg.result) {
            pending--;
            const k = queue.shift();
            if (k !== undefined) w.worker.postMessage({ k });
            finish(msg.result);
          }
        }
      }
    }
  } finally {
    for (const w of workers) {
      w.port.close();
      void w.worker.terminate();
    }
  }
}

const roundStats = (s: DeltaStats): DeltaStats => ({ relL2: round8(s.relL2), meanAbs: round8(s.meanAbs), fracBelow005: round8(s.fracBelow005) });
const round8 = (x: number) => Math.round(x * 1e8) / 1e8;
