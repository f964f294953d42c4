// The sft4 tasks: seeded generators of (prompt, answer) pairs over a small character alphabet, in two
// surface forms. The "plain" form is the generic text the base is pretrained on; the "instruction"
// form is what SFT experts train on and every scored split holds:
//   skill      plain form          instruction form        answer
//   sort       "sort dbca="        "q: sort dbca a:"       "abcd"    letters in alphabetical order
//   reverse    "rev dbca="         "q: rev dbca a:"        "acbd"    the string reversed
//   shift      "shift abj="        "q: shift abj a:"       "bca"     each letter one on (j wraps to a)
//   add        "add 74+58="        "q: add 74+58 a:"       "231"     sum, digits least significant first
// The pretraining mixture holds every skill in plain form and, at a small share, in instruction
// form: the base knows each skill and has seen the instruction format rarely, so an SFT expert
// mostly sharpens the format (small deltas). Two more tasks exist beside the skills:
//   cipher     a fixed letter substitution (seeded) of the plain form of every skill: the "new
//              language" a continued-pretraining expert learns; scored as cipher prompt → cipher answer
//   double, first, noise   unrelated training sets for the irrelevant experts ("dbl abc=" → "aabbcc",
//              "first abc=" → "a", random strings → random strings); never scored.
import { seededRandom } from '../tensor/random.ts';
import { distinctSplits, EVAL_SPLITS, type EvalSplit, type SkillExample } from './skills4-tasks.ts';

export { EVAL_SPLITS, type EvalSplit, type SkillExample };

export const SFT4_SKILLS = ['sort', 'reverse', 'shift', 'add'] as const;
export type Sft4Skill = (typeof SFT4_SKILLS)[number];
/** The continued-pretraining expert's task. */
export const CIPHER_TASK = 'cipher';
export type Sft4Task = Sft4Skill | typeof CIPHER_TASK;
export const IRRELEVANT_SETS = ['double', 'first', 'noise'] as const;
export type IrrelevantSet = (typeof IRRELEVANT_SETS)[number];

/** Every character prompts and answers may hold (the tokenizer adds <pad>, <s>, </s>). */
export const SFT4_ALPHABET: readonly string[] = [...'0123456789abcdefghijklmnopqrstuvwxyz+=?: \n'];

/** Letters operands are drawn from. */
const LETTERS = 'abcdefghij';

export type Form = 'plain' | 'instruction';

const KEYWORD: Record<Sft4Skill, string> = { sort: 'sort', reverse: 'rev', shift: 'shift', add: 'add' };

/** Operand lengths (letters; digits per addend for add). */
export const LENGTHS: Record<Sft4Skill, { min: number; max: number }> = {
  sort: { min: 3, max: 8 },
  reverse: { min: 3, max: 8 },
  shift: { min: 3, max: 8 },
  add: { min: 2, max: 3 },
};

const int = (rand: () => number, lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (rand: () => number, s: string) => s[Math.floor(rand() * s.length)]!;
const word = (rand: () => number, n: number, letters = LETTERS) => Array.from({ length: n }, () => pick(rand, letters)).join('');
const rev = (s: string) => [...s].reverse().join('');

/** The answer of a skill's operand (the text between the keyword and `=` / ` a:`). */
export function solveSkill(skill: Sft4Skill, operand: string): string {
  switch (skill) {
    case 'sort':
      return [...operand].sort().join('');
    case 'reverse':
      return rev(operand);
    case 'shift':
      return [...operand].map((c) => LETTERS[(LETTERS.indexOf(c) + 1) % LETTERS.length]!).join('');
    case 'add': {
      const [a, b] = operand.split('+').map((x) => Number(rev(x)));
      return rev(String(a! + b!));
    }
  }
}

export function skillPrompt(skill: Sft4Skill, operand: string, form: Form): string {
  return form === 'plain' ? `${KEYWORD[skill]} ${operand}=` : `q: ${KEYWORD[skill]} ${operand} a:`;
}

/** The skill and operand of a prompt in either form (undefined when it is neither). */
export function parsePrompt(prompt: string): { skill: Sft4Skill; operand: string; form: Form } | undefined {
  const m = /^(?:q: )?(sort|rev|shift|add) (\S+?)(=| a:)$/.exec(prompt);
  if (!m) return undefined;
  const form: Form = m[3] === '=' ? 'plain' : 'instruction';
  if ((form === 'instruction') !== prompt.startsWith('q: ')) return undefined;
  const skill = SFT4_SKILLS.find((s) => KEYWORD[s] === m[1])!;
  return { skill, operand: m[2]!, form };
}

/** One example of a skill in a form. */
export function generateSkill(skill: Sft4Skill, form: Form, rand: () => number): SkillExample {
  const r = LENGTHS[skill];
  let operand: string;
  if (skill === 'add') {
    // Addends of r.min..r.max digits, written least significant digit first (no trailing zero).
    const num = () => {
      const d = int(rand, r.min, r.max);
      return rev(String(int(rand, 10 ** (d - 1), 10 ** d - 1)));
    };
    operand = `${num()}+${num()}`;
  } else operand = word(rand, int(rand, r.min, r.max));
  return { prompt: skillPrompt(skill, operand, form), answer: solveSkill(skill, operand) };
}

/** A seeded permutation of the 26 letters (the cipher's substitution); digits and symbols stay. */
export function cipherKey(seed: number): string {
  const rand = seededRandom((seed ^ 0xc1f3e5) >>> 0);
  const letters = [...'abcdefghijklmnopqrstuvwxyz'];
  for (let i = letters.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [letters[i], letters[j]] = [letters[j]!, letters[i]!];
  }
  return letters.join('');
}

export function encipher(key: string, text: string): string {
  return [...text].map((c) => (c >= 'a' && c <= 'z' ? key[c.charCodeAt(0) - 97]! : c)).join('');
}

export function decipher(key: string, text: string): string {
  return [...text].map((c) => (c >= 'a' && c <= 'z' ? String.fromCharCode(97 + key.indexOf(c)) : c)).join('');
}

/** The cipher task: a plain-form skill example, prompt and answer enciphered. */
export function generateCipher(key: string, rand: () => number): SkillExample {
  const e = generateSkill(SFT4_SKILLS[int(rand, 0, SFT4_SKILLS.length - 1)]!, 'plain', rand);
  return { prompt: encipher(key, e.prompt), answer: encipher(key, e.answer) };
}

/** Training examples of an irrelevant expert. */
export function generateIrrelevant(set: IrrelevantSet, rand: () => number): SkillExample {
  const w = word(rand, int(rand, 3, 8));
  switch (set) {
    case 'double':
      return { prompt: `dbl ${w}=`, answer: [...w].map((c) => c + c).join('') };
    case 'first':
      return { prompt: `first ${w}=`, answer: w[0]! };
    case 'noise': {
      const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
      return { prompt: `${word(rand, int(rand, 4, 12), chars)}=`, answer: word(rand, int(rand, 2, 8), chars) };
    }
  }
}

/** One example of a scored task (a skill in instruction form, or the cipher). */
export function generateTask(task: Sft4Task, key: string, rand: () => number): SkillExample {
  return task === CIPHER_TASK ? generateCipher(key, rand) : generateSkill(task, 'instruction', rand);
}

/**
 * Disjoint splits of one scored task (distinct prompts across and within splits), and a training
 * set of `train` examples whose prompts are in none of them (repeats allowed there).
 */
export function sft4TaskSplits(task: Sft4Task, seed: number, sizes: Record<EvalSplit, number>, train: number): { splits: Record<EvalSplit, SkillExample[]>; train: SkillExample[]; heldOut: Set<string> } {
  const index = task === CIPHER_TASK ? SFT4_SKILLS.length : SFT4_SKILLS.indexOf(task);
  const rand = seededRandom((seed ^ (0x5f74 + 7919 * (index + 1))) >>> 0);
  const key = cipherKey(seed);
  return distinctSplits(() => generateTask(task, key, rand), sizes, train, task);
}

/** Operands of held-out prompts (any form, the cipher deciphered), so pretraining never shows them. */
export function heldOutOperands(prompts: Iterable<string>, key: string): Set<string> {
  const out = new Set<string>();
  for (const p of prompts) {
    const parsed = parsePrompt(p) ?? parsePrompt(decipher(key, p));
    if (parsed) out.add(`${parsed.skill} ${parsed.operand}`);
  }
  return out;
}

/**
 * The generic pretraining mixture: `copy` and every skill in plain form, with each skill in
 * instruction form at `instructionShare` of that skill's rows; no operand of `exclude`
 * (heldOutOperands of the scored splits). Shuffled by `seed`.
 */
export function sft4Mixture(seed: number, count: number, instructionShare: number, exclude: Set<string>): SkillExample[] {
  const rand = seededRandom((seed ^ 0x9e3779b9) >>> 0);
  const out: SkillExample[] = [];
  for (let i = 0; out.length < count; i++) {
    const kind = i % (SFT4_SKILLS.length + 1);
    if (kind === SFT4_SKILLS.length) {
      const w = word(rand, int(rand, 1, 8));
      out.push({ prompt: `copy ${w}=`, answer: w });
      continue;
    }
    const skill = SFT4_SKILLS[kind]!;
    const form: Form = rand() < instructionShare ? 'instruction' : 'plain';
    const ex = generateSkill(skill, form, rand);
    if (exclude.has(`${skill} ${parsePrompt(ex.prompt)!.operand}`)) continue;
    out.push(ex);
  }
  return out;
}

/** The cipher language's pretraining text: the mixture's plain rows, enciphered (no held-out operand). */
export function cipherCorpus(seed: number, count: number, exclude: Set<string>): SkillExample[] {
  const key = cipherKey(seed);
  return sft4Mixture(seed ^ 0x3c3c, count, 0, exclude).map((e) => ({ prompt: encipher(key, e.prompt), answer: encipher(key, e.answer) }));
}
