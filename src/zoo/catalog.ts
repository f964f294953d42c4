// What the command line says about each benchmark family before any of its code is loaded (the
// `zoo build` help, built-in zoo names): names, one-line summaries, build times. Each family
// adapter spreads its card, so the two cannot drift (test/cli-startup.test.ts checks the order).

export interface FamilyCard {
  /** The manifest's `benchmark` value and the `zoo build` name. */
  readonly name: string;
  /** What its checkpoints are, for messages ("classifiers with per-task heads"). */
  readonly holds: string;
  /** One line for `zoo build --help`. */
  readonly summary: string;
  /** How long `zoo build` takes, on the project's 2-core machine. */
  readonly buildTime: { full: string; tiny: string };
}

export const MNIST8_CARD: FamilyCard = {
  name: 'mnist8',
  holds: 'classifiers with per-task heads',
  summary: 'eight transformed-digit classification experts (MLP backbone, one head per task): fast, for comparing merge methods and optimizers',
  buildTime: { full: 'about 1.5 minutes', tiny: 'a few seconds' },
};

export const SKILLS4_CARD: FamilyCard = {
  name: 'skills4',
  holds: 'language models',
  summary: 'a small Llama-family decoder fine-tuned into four skill experts (add, reverse, sort, lookup): search on language models with exact-match objectives',
  buildTime: { full: 'about 15 minutes', tiny: 'about a minute' },
};

export const SFT4_CARD: FamilyCard = {
  name: 'sft4',
  holds: 'language models',
  summary:
    'a capable small Llama-family base with SFT-like experts (sort, reverse, shift: few steps, small deltas), a continued-pretraining expert (cipher: large deltas) and irrelevant experts: reproducing LLM-merging claims (DARE, TIES, WIDEN, Frank-Wolfe)',
  buildTime: { full: 'about 20 minutes', tiny: 'about a minute' },
};

/** In the order of the registry's FAMILIES. */
export const FAMILY_CARDS: readonly FamilyCard[] = [MNIST8_CARD, SKILLS4_CARD, SFT4_CARD];

/** Built-in zoo names: each family's name, and NAME-tiny for its small test version. */
export const BUILTIN_ZOOS: readonly string[] = FAMILY_CARDS.flatMap((f) => [f.name, `${f.name}-tiny`]);

export function familyNames(): string[] {
  return FAMILY_CARDS.map((f) => f.name);
}

export function isBuiltinZoo(zoo: string): boolean {
  return BUILTIN_ZOOS.includes(zoo);
}
