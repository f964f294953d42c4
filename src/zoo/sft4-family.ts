// The sft4 benchmark family: a Llama-family decoder pretrained on a mixture where every skill
// appears, SFT experts with small deltas (sort, reverse, shift, add), a continued-pretraining expert
// with large deltas (cipher) and irrelevant experts. It loads and scores as skills4 does (every tensor
// merged, no heads); a study merges the manifest's defaultExperts (the SFT experts) unless its config
// names `experts`.
import { SFT4_CARD } from './catalog.ts';
import type { BenchmarkFamily, LoadedZoo } from './family.ts';
import { buildSft4 } from './sft4.ts';
import type { LoadedLmZoo } from './skills4-models.ts';
import { loadSkills4Zoo, skills4Family } from './skills4-family.ts';

export function loadSft4Zoo(dir: string): LoadedZoo & LoadedLmZoo {
  return { ...loadSkills4Zoo(dir), family: sft4Family };
}

export const sft4Family: BenchmarkFamily = {
  ...skills4Family,
  ...SFT4_CARD,
  build: (o) => buildSft4(o),
  load: loadSft4Zoo,
};
