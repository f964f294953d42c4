// Score an exported zoo checkpoint on its study's objectives again — the zoo's task list from the
// zoo's manifest (as the study had it), the checkpoint's own tensors (heads included), the same
// splits and the same seeded subsample the study used: the export reproduces the study's values
// when these agree.
import { fail } from '../errors.ts';
import { StudyStore } from '../study/index.ts';
import { ensureZoo, familyOfDir, selectExperts } from '../zoo/registry.ts';
import { resolveZooObjectives, type ZooObjective } from './study-config.ts';
import { readStoredConfig } from './study-identity.ts';

export interface RescoreRow {
  objective: string;
  recorded: number;
  /** Undefined for objectives this check cannot recompute (command evaluators). */
  rescored?: number;
}

export function rescoreExport(db: string, studyName: string, trialNumber: number, dir: string): RescoreRow[] {
  const store = StudyStore.open(db, { readonly: true });
  let identity;
  let values: number[];
  let names: string[];
  try {
    const study = store.getStudy(studyName);
    identity = readStoredConfig(study).identity;
    const t = store.trial(study.id, trialNumber);
    if (!t.values) fail('STUDY_E_NOT_FOUND', `trial ${trialNumber} has no values`);
    values = t.values;
    names = study.objectives.map((o) => o.name);
  } finally {
    store.close();
  }
  if (!identity.zoo) return [];
  const zooDir = ensureZoo(identity.zoo);
  const zoo = selectExperts(familyOfDir(zooDir).load(zooDir), identity.experts, 'stored study config');
  const objectives = resolveZooObjectives(identity.objectives, zoo.tasks, 'stored study config');
  if (objectives.length !== values.length || objectives.some((o, i) => o.name !== names[i])) {
    fail('STUDY_E_NOT_FOUND', `study ${studyName} recorded objectives ${names.join(', ')}, but its config resolves to ${objectives.map((o) => o.name).join(', ')} on the zoo ${zooDir} now; was the zoo rebuilt with other tasks?`);
  }
  const zooObjectives = objectives.filter((o): o is ZooObjective => o.kind === 'zoo');
  const scorer = zoo.scorer({ samples: identity.samples ?? undefined, seed: identity.seed });
  try {
    const scored = scorer.score(zoo.readCheckpoint(dir), zooObjectives).values;
    let k = 0;
    return objectives.map((o, i) => (o.kind === 'zoo' ? { objective: o.name, recorded: values[i]!, rescored: scored[k++]! } : { objective: o.name, recorded: values[i]! }));
  } finally {
    scorer.close();
  }
}
