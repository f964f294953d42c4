// The skills4 benchmark family: a small Llama-family decoder pretrained on a generic mixture and
// fine-tuned into one expert per skill (add, reverse, sort, lookup). Every tensor is merged (no
// heads); objectives are exact match, token loss, perplexity or prompt entropy per skill.
import { LM_EVALUATORS } from '../../evaluators/lm.ts';
import { fail } from '../errors.ts';
import { loadLlamaHost } from '../models/llama-load.ts';
import { SKILLS4_CARD } from './catalog.ts';
import type { BenchmarkFamily, EvalOptions, FamilyEvaluator, LoadedZoo } from './family.ts';
import { LmLosses, LmScorer } from './lm-scoring.ts';
import { scoreSkills } from './skills4-eval.ts';
import { loadLmZoo, type LoadedLmZoo } from './skills4-models.ts';
import { buildSkills4 } from './skills4.ts';
import { EVAL_SPLITS, type EvalSplit } from './skills4-tasks.ts';

/** A skills4 zoo in memory, with its family's scorers (and the language-model fields tests read). */
export function loadSkills4Zoo(dir: string): LoadedZoo & LoadedLmZoo {
  const zoo = loadLmZoo(dir);
  return {
    ...zoo,
    family: skills4Family,
    mergedTensors: [...zoo.base.keys()],
    // Methods, not closures over `zoo`: a copy with other experts ({...zoo, experts}) scores itself.
    scorer(o) {
      return new LmScorer(this, o);
    },
    lossTerms(split = 'calibration') {
      return new LmLosses(this, split);
    },
    readCheckpoint(model) {
      const { config, params } = loadLlamaHost(model);
      if (JSON.stringify(config) !== JSON.stringify(zoo.config)) fail('MERGE_E_SHAPE', `${model} has another architecture than the zoo ${dir}'s base (config.json differs)`);
      return params;
    },
  };
}

function evalCheckpoint(o: EvalOptions) {
  if (o.expertTensors) fail('CLI_E_ARG', '--expert-heads routes classifier heads; a language-model zoo has none: remove it');
  const scores = scoreSkills(o.model, o.zooDir, o.split as EvalSplit, { samples: o.samples, gpu: o.gpu });
  const mean = scores.reduce((a, s) => a + s.exactMatch, 0) / scores.length;
  const lines = [
    ...scores.map((s) => `  ${s.task.padEnd(10)} exact match ${s.exactMatch.toFixed(4)}  loss/token ${s.loss.toFixed(4)}  perplexity ${s.perplexity.toFixed(3)}  entropy ${s.entropy.toFixed(4)}  (${s.samples} samples)`),
    `  ${'average'.padEnd(10)} exact match ${mean.toFixed(4)}`,
  ];
  return { json: { scores, meanExactMatch: mean }, lines };
}

const evaluators: FamilyEvaluator[] = Object.entries(LM_EVALUATORS).map(([name, e]) => ({ name, ...e }));

export const skills4Family: BenchmarkFamily = {
  ...SKILLS4_CARD,
  splits: EVAL_SPLITS,
  evaluators,
  mergesTensor: () => true,
  tensorOwner: () => -1,
  build: (o) => buildSkills4(o),
  load: loadSkills4Zoo,
  evalCheckpoint,
};
