// npx tsx experiments/skills4/side-checks.ts — the side measurements behind observations.md, after
// `npm run results:skills4`: (1) per study in experiments/skills4/studies.db, the highest calibration
// exact match any trial reaches on its second-best task; (2) task arithmetic, TIES and DARE-TIES
// (density 0.5) at λ below the smallest value of RESULTS.md's grid, mean exact match on the whole
// validation and test splits of zoo/skills4.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { scoreLmHostParams } from '../../src/zoo/lm-scoring.ts';
import type { ZooObjective } from '../../src/search/study-config.ts';
import { StudyStore } from '../../src/study/index.ts';
import { initEngine } from '../../src/tensor/engine.ts';
import { loadLmZoo, mergeLmZoo } from '../../src/zoo/skills4-models.ts';
import type { MergeSpec } from '../../src/merge/host-merge.ts';

const store = StudyStore.open(path.join(path.dirname(fileURLToPath(import.meta.url)), 'studies.db'), { readonly: true });
let trials = 0;
for (const { name } of store.listStudies()) {
  const complete = store.trials(store.getStudy(name).id, { states: ['COMPLETE'] });
  trials += complete.length;
  const second = complete.map((t) => [...t.values!].sort((a, b) => b - a)[1]!);
  console.log(`${name}: ${complete.length} trials, best second-best task ${(100 * Math.max(...second)).toFixed(1)} %`);
}
store.close();
console.log(`${trials} trials in all\n`);

await initEngine('auto');
const zoo = loadLmZoo('zoo/skills4');
const exactMatchOn = (split: 'validation' | 'test'): ZooObjective[] => zoo.tasks.map((task) => ({ kind: 'zoo', name: task, evaluator: 'exact_match', task, split, direction: 'maximize' }));
const ones = (extra: Record<string, number> = {}) => zoo.experts.map(() => ({ weight: 1, ...extra }));
const METHODS: Record<string, (lambda: number) => MergeSpec> = {
  task_arithmetic: (lambda) => ({ method: 'task_arithmetic', global: { lambda }, perModel: ones() }),
  ties: (lambda) => ({ method: 'ties', global: { lambda }, perModel: ones({ density: 0.5 }) }),
  dare_ties: (lambda) => ({ method: 'dare_ties', global: { lambda }, perModel: ones({ density: 0.5 }), seed: 0 }),
};
const pct = (v: number[]) => `${((100 * v.reduce((a, b) => a + b, 0)) / v.length).toFixed(1)} % (${v.map((x) => (100 * x).toFixed(1)).join(' / ')})`;
console.log(`mean exact match (${zoo.tasks.join(' / ')})`);
for (const [name, spec] of Object.entries(METHODS)) {
  for (const lambda of [0.05, 0.1, 0.15, 0.2, 0.3]) {
    const merged = mergeLmZoo(zoo, spec(lambda));
    const val = scoreLmHostParams(zoo, merged, exactMatchOn('validation'), { seed: 0 }).values;
    const test = scoreLmHostParams(zoo, merged, exactMatchOn('test'), { seed: 0 }).values;
    console.log(`${name} λ ${lambda}: validation ${pct(val)}, test ${pct(test)}`);
  }
}
