// The skills4 tasks: seeded generators of (prompt, answer) pairs over a small character alphabet.
//   add      "12+34="        → "46"       two-digit addition (three-digit sums were too slow to learn)
//   reverse  "rev abcd="     → "dcba"     string reversal
//   sort     "sort dbca="    → "abcd"     characters in alphabetical order
//   lookup   "a1b2c3?b="     → "2"        the value of a key among key-value pairs
// plus `copy` ("copy abc=" → "abc"), used only in the base's generic pretraining mixture.
// Each task has a hard level (what experts train on and every split holds) and an easy level
// (short operands, for the pretraining mixture), so the base knows the formats but not the skills.
import { seededRandom } from '../tensor/random.ts';

export const SKILLS4_TASKS = ['add', 'reverse', 'sort', 'lookup'] as const;
export type Skills4Task = (typeof SKILLS4_TASKS)[number];
export type SkillsGenerator = Skills4Task | 'copy';

/** Every character prompts and answers may hold (the tokenizer adds <pad>, <s>, </s>). */
export const SKILLS4_ALPHABET: readonly string[] = [...'0123456789abcdefghijklmnopqrstuvwxyz+=? \n'];

/** Letters operands are drawn from (a small set keeps the skills learnable by a small model). */
const LETTERS = 'abcdefghij';
const DIGITS = '0123456789';

export interface SkillExample {
  prompt: string;
  answer: string;
}

export type Level = 'easy' | 'hard';

interface Ranges {
  /** add: digits per operand; others: string length / pairs. */
  min: number;
  max: number;
}

const RANGES: Record<SkillsGenerator, Record<Level, Ranges>> = {
  add: { easy: { min: 1, max: 1 }, hard: { min: 2, max: 2 } },
  reverse: { easy: { min: 1, max: 2 }, hard: { min: 3, max: 7 } },
  sort: { easy: { min: 1, max: 2 }, hard: { min: 3, max: 7 } },
  lookup: { easy: { min: 1, max: 2 }, hard: { min: 3, max: 6 } },
  copy: { easy: { min: 1, max: 7 }, hard: { min: 1, max: 7 } },
};

const int = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (rand: () => number, s: string) => s[Math.floor(rand() * s.length)]!;
const word = (rand: () => number, n: number) => Array.from({ length: n }, () => pick(rand, LETTERS)).join('');

/** A number of exactly `digits` digits (no leading zero unless it is 0 itself). */
function number(rand: () => number, digits: number): number {
  if (digits === 1) return int(rand, 0, 9);
  return int(rand, 10 ** (digits - 1), 10 ** digits - 1);
}

/** The answer of a prompt, computed from the prompt alone (the generators' reference). */
export function solve(task: SkillsGenerator, prompt: string): string {
  const body = prompt.replace(/=$/, '');
  switch (task) {
    case 'add': {
      const [a, b] = body.split('+');
      return String(Number(a) + Number(b));
    }
    case 'reverse':
      return [...body.slice('rev '.length)].reverse().join('');
    case 'sort':
      return [...body.slice('sort '.length)].sort().join('');
    case 'copy':
      return body.slice('copy '.length);
    case 'lookup': {
      const [pairs, key] = body.split('?');
      for (let i = 0; i + 1 < pairs!.length; i += 2) if (pairs![i] === key) return pairs![i + 1]!;
      throw new Error(`lookup prompt ${prompt} has no key ${key}`);
    }
  }
}

/** One example of `task` at `level`, drawn with `rand`. */
export function generate(task: SkillsGenerator, level: Level, rand: () => number): SkillExample {
  const r = RANGES[task][level];
  let prompt: string;
  switch (task) {
    case 'add':
      prompt = `${number(rand, int(rand, r.min, r.max))}+${number(rand, int(rand, r.min, r.max))}=`;
      break;
    case 'reverse':
      prompt = `rev ${word(rand, int(rand, r.min, r.max))}=`;
      break;
    case 'sort':
      prompt = `sort ${word(rand, int(rand, r.min, r.max))}=`;
      break;
    case 'copy':
      prompt = `copy ${word(rand, int(rand, r.min, r.max))}=`;
      break;
    case 'lookup': {
      const n = int(rand, r.min, r.max);
      // n distinct keys (a partial Fisher-Yates shuffle of the letters), a digit each.
      const keys = [...LETTERS];
      for (let i = 0; i < n; i++) {
        const j = int(rand, i, keys.length - 1);
        [keys[i], keys[j]] = [keys[j]!, keys[i]!];
      }
      const pairs = keys.slice(0, n).map((k) => k + pick(rand, DIGITS)).join('');
      prompt = `${pairs}?${keys[int(rand, 0, n - 1)]}=`;
      break;
    }
  }
  return { prompt, answer: solve(task, prompt) };
}

export const EVAL_SPLITS = ['calibration', 'validation', 'test'] as const;
export type EvalSplit = (typeof EVAL_SPLITS)[number];

/**
 * Disjoint hard-level splits of one task (distinct prompts across and within splits), and a
 * training set of `train` examples whose prompts are in none of them (repeats allowed there).
 */
export function taskSplits(task: Skills4Task, seed: number, sizes: Record<EvalSplit, number>, train: number): { splits: Record<EvalSplit, SkillExample[]>; train: SkillExample[] } {
  const rand = seededRandom((seed ^ (0x51ed + 7919 * (SKILLS4_TASKS.indexOf(task) + 1))) >>> 0);
  return distinctSplits(() => generate(task, 'hard', rand), sizes, train, task);
}

/**
 * Disjoint splits drawn with `draw` (distinct prompts across and within splits), then `train`
 * examples whose prompts are in none of them (repeats allowed there); `heldOut`: every split prompt.
 */
export function distinctSplits(draw: () => SkillExample, sizes: Record<EvalSplit, number>, train: number, what: string): { splits: Record<EvalSplit, SkillExample[]>; train: SkillExample[]; heldOut: Set<string> } {
  const used = new Set<string>();
  const splits = {} as Record<EvalSplit, SkillExample[]>;
  for (const s of EVAL_SPLITS) {
    const list: SkillExample[] = [];
    let tries = 0;
    while (list.length < sizes[s]) {
      if (++tries > 1000 * (sizes[s] + 10)) throw new Error(`cannot draw ${sizes[s]} distinct ${what} prompts`);
      const ex = draw();
      if (used.has(ex.prompt)) continue;
      used.add(ex.prompt);
      list.push(ex);
    }
    splits[s] = list;
  }
  const trainSet: SkillExample[] = [];
  while (trainSet.length < train) {
    const ex = draw();
    if (!used.has(ex.prompt)) trainSet.push(ex);
  }
  return { splits, train: trainSet, heldOut: used };
}

/** The generic pretraining mixture: copying and easy instances of every task, shuffled by `seed`. */
export function pretrainMixture(seed: number, count: number): SkillExample[] {
  const rand = seededRandom((seed ^ 0x9e3779b9) >>> 0);
  const kinds: SkillsGenerator[] = ['copy', ...SKILLS4_TASKS];
  return Array.from({ length: count }, (_, i) => generate(kinds[i % kinds.length]!, 'easy', rand));
}
