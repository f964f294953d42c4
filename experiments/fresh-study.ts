// Shared by the scripts that regenerate RESULTS.md: run one study config from scratch (an older
// study of the same name is deleted first), then read back its completed trials, its best trial by
// mean objective value (every objective of these studies is maximised), and, for MAP, how far the
// surrogates' predictions at the evaluated front points were from the values measured there.
import { runStudy } from '../src/search/run-study.ts';
import { readStudyConfig, type StudyConfig } from '../src/search/study-config.ts';
import { StudyStore } from '../src/study/index.ts';
import type { TrialRow } from '../src/study/types.ts';

export interface FreshStudy {
  config: StudyConfig;
  complete: TrialRow[];
  best: TrialRow;
  /** Study attributes (`evaluations`: samples scored over the study). */
  attrs: Record<string, unknown>;
  seconds: number;
  /** Mean predicted and measured value at the points carrying a `predicted` attribute (MAP's front). */
  front?: { points: number; predicted: number; measured: number };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** `override.zoo` runs the study on another zoo than its config names (a results script's --zoo). */
export async function runFreshStudy(file: string, db: string, override: { zoo?: string } = {}): Promise<FreshStudy> {
  const read = readStudyConfig(file);
  const config: StudyConfig = override.zoo === undefined ? read : { ...read, zoo: override.zoo };
  const store = StudyStore.open(db);
  const old = store.findStudy(config.name);
  if (old) store.deleteStudy(old.id);
  store.close();
  console.error(`== ${config.name}`);
  const t0 = Date.now();
  const result = await runStudy({ config, configFile: file, db, log: (l) => console.error(l) });
  const seconds = (Date.now() - t0) / 1000;
  const reader = StudyStore.open(db, { readonly: true });
  const complete = reader.trials(result.study.id, { states: ['COMPLETE'] });
  const attrs = reader.studyAttrs(result.study.id);
  reader.close();
  if (complete.length === 0) throw new Error(`study ${config.name} completed no trial`);
  const best = complete.reduce((a, b) => (mean(b.values!) > mean(a.values!) ? b : a));
  const predictedAt = complete.filter((t) => Array.isArray(t.attrs.predicted));
  const front =
    predictedAt.length === 0
      ? undefined
      : { points: predictedAt.length, predicted: mean(predictedAt.map((t) => mean(t.attrs.predicted as number[]))), measured: mean(predictedAt.map((t) => mean(t.values!))) };
  return { config, complete, best, attrs, seconds, front };
}
