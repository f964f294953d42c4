// Score an exported zoo checkpoint on its study's objectives again, through the checkpoint's own
// heads, the same split and the same seeded subsample the study used: the export reproduces the
// study's values when these agree.
import { fail } from '../errors.ts';
import { StudyStore } from '../study/index.ts';
import { loadClassifier, scoreOnZoo } from '../zoo/zoo-eval.ts';
import { loadLlamaCheckpoint } from '../models/llama-load.ts';
import { isSkills4Zoo, loadLmZoo } from '../zoo/skills4-models.ts';
import { studyIdentity, type StudyIdentity } from './export.ts';
import { scoreLmObjectives } from './lm-zoo-problem.ts';
import { resolveZooObjectives, type ZooObjective } from './study-config.ts';
import { ensureZoo } from './zoo-problem.ts';

export interface RescoreRow {
  objective: string;
  recorded: number;
  /** Undefined for objectives this check cannot recompute (entropy, command evaluators). */
  rescored?: number;
}

export function rescoreExport(db: string, studyName: string, trialNumber: number, dir: string): RescoreRow[] {
  const store = StudyStore.open(db, { readonly: true });
  let identity;
  let values: number[];
  let tasks: string[];
  try {
    const study = store.getStudy(studyName);
    identity = studyIdentity(study);
    const t = store.trial(study.id, trialNumber);
    if (!t.values) fail('STUDY_E_NOT_FOUND', `trial ${trialNumber} has no values`);
    values = t.values;
    tasks = study.objectives.map((o) => o.name);
  } finally {
    store.close();
  }
  if (!identity.zoo) return [];
  const zooDir = ensureZoo(identity.zoo);
  if (isSkills4Zoo(zooDir)) return rescoreLm(zooDir, identity, values, dir);
  const model = loadClassifier(dir);
  const objectives = resolveZooObjectives(identity.objectives, model.config.tasks, 'stored study config');
  const rows: RescoreRow[] = [];
  const cache = new Map<string, ReturnType<typeof scoreOnZoo>[number]>();
  objectives.forEach((o, i) => {
    if (o.kind !== 'zoo' || o.evaluator === 'entropy') {
      rows.push({ objective: tasks[i] ?? o.name, recorded: values[i]! });
      return;
    }
    const key = `${o.task}/${o.split}`;
    let s = cache.get(key);
    if (!s) {
      s = scoreOnZoo(model.config, model.params, zooDir, o.split, { tasks: [o.task], samples: identity.samples ?? undefined, sampleSeed: identity.seed })[0]!;
      cache.set(key, s);
    }
    rows.push({ objective: o.name, recorded: values[i]!, rescored: o.evaluator === 'accuracy' ? s.accuracy : s.crossEntropy });
  });
  for (const t of Object.values(model.params)) t.dispose();
  return rows;
}

/** A language-model export scored on every objective the study recorded (entropy included: it needs no labels). */
function rescoreLm(zooDir: string, identity: StudyIdentity, values: number[], dir: string): RescoreRow[] {
  const zoo = loadLmZoo(zooDir);
  const objectives = resolveZooObjectives(identity.objectives, zoo.tasks, 'stored study config') as ZooObjective[];
  const model = loadLlamaCheckpoint(dir);
  try {
    const scored = scoreLmObjectives(zoo, model.params, objectives, { samples: identity.samples ?? undefined, seed: identity.seed });
    return objectives.map((o, i) => ({ objective: o.name, recorded: values[i]!, rescored: scored.values[i]! }));
  } finally {
    model.dispose();
  }
}
