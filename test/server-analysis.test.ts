// The report's decision routes through app.inject, on hand-built studies whose answers are worked
// out by hand below: the recommended merge and the baselines' scores
// (/api/studies/NAME/recommendation), parameter importance checked against Spearman's ρ computed
// here from its textbook formula (/importance), the best-so-far curves of the studies on the same
// benchmark (/compare), and the study config as YAML (/api/studies/NAME).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type ReportApp } from '../src/server/app.ts';
import { StudyStore } from '../src/study/index.ts';

let root: string;
let app: ReportApp;

const ACC = { name: 'acc', direction: 'maximize' as const };
const LOSS = { name: 'loss', direction: 'minimize' as const };
const zooObjectives = [
  { kind: 'zoo', name: 'acc', evaluator: 'accuracy', task: 'plain', split: 'calibration', direction: 'maximize' },
  { kind: 'zoo', name: 'loss', evaluator: 'cross_entropy', task: 'rot90', split: 'calibration', direction: 'minimize' },
];
const configOf = (zoo: string) => ({ version: 1, identity: { zoo, checkpoints: null, space: { method: 'task_arithmetic', granularity: 'task', parameters: { weight: { low: 0, high: 1 } } }, objectives: zooObjectives, samples: null, optimizer: { name: 'random', settings: {} }, seed: 0 }, budget: { trials: 5 }, source: null });

/** Trials as [x, values | 'FAIL']. */
type Row = [number[], number[] | 'FAIL'];
const A: Row[] = [
  [[0.1, 0.5, 0.3], [0.6, 1.0]],
  [[0.2, 0.5, 0.1], [0.7, 0.8]],
  [[0.9, 0.5, 0.9], 'FAIL'],
  [[0.3, 0.5, 0.2], [0.9, 1.4]],
  [[0.4, 0.5, 0.4], [0.8, 0.6]],
];
const B: Row[] = [
  [[0, 0, 0], [0.65, 0.9]],
  [[0, 0, 0], [0.85, 1.2]],
  [[0, 0, 0], 'FAIL'],
  [[0, 0, 0], [0.7, 0.7]],
];
const BASELINES = { objectives: ['acc', 'loss'], base: [0.5, 2.0], taskArithmetic: { lambda: 0.4, values: [0.75, 0.9], grid: [0.1, 0.4] }, experts: [{ task: 'plain', value: 0.95 }, null], evaluations: 10 };

function addStudy(store: StudyStore, name: string, zoo: string, objectives: Array<typeof ACC | typeof LOSS>, rows: Row[], attrs: Record<string, unknown> = {}): void {
  const s = store.createStudy({ name, config: configOf(zoo), backend: 'cpu', seed: 0, optimizer: name === 'b' ? 'cmaes' : 'random', objectives });
  for (const [x, v] of rows) {
    const t = store.createTrial(s.id, { state: 'RUNNING', x });
    store.finishTrial(s.id, t.number, v === 'FAIL' ? { state: 'FAIL', error: 'broke' } : { state: 'COMPLETE', values: v });
  }
  for (const [k, v] of Object.entries(attrs)) store.setStudyAttr(s.id, k, v);
}

async function get<T = any>(url: string): Promise<T> {
  const r = await app.inject({ method: 'GET', url });
  expect(r.statusCode, r.body).toBe(200);
  return JSON.parse(r.body) as T;
}

/** Spearman's ρ by its textbook formula 1 − 6Σd²/(n(n² − 1)) (no ties in these columns). */
function spearman(a: number[], b: number[]): number {
  const rank = (v: number[]) => v.map((x) => v.filter((y) => y < x).length + 1);
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  return 1 - (6 * ra.reduce((s, r, i) => s + (r - rb[i]!) ** 2, 0)) / (n * (n * n - 1));
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mergesearch-analysis-'));
  const db = path.join(root, 'studies.db');
  const store = StudyStore.open(db);
  try {
    addStudy(store, 'a', 'mnist8', [ACC, LOSS], A, { baselines: BASELINES, coordinates: ['w[plain]', 'w[rot90]', 'w[invert]'], prefer: null, config_yaml: '# my study\nname: a\nbudget: {trials: 5}\n' });
    addStudy(store, 'b', 'mnist8', [ACC, LOSS], B, { prefer: { weights: { loss: 0 } } });
    addStudy(store, 'other-objectives', 'mnist8', [ACC], [[[0], [0.99]]]);
    addStudy(store, 'other-zoo', 'skills4', [ACC, LOSS], [[[0], [0.99, 0.1]]]);
  } finally {
    store.close();
  }
  app = await buildApp({ db, outputRoot: root });
});

afterAll(async () => {
  await app?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('GET /api/studies/:name/recommendation', () => {
  it('picks the best mean after rescaling accuracy and loss to [0, 1], and scores the baselines on that scale', async () => {
    const r = await get('/api/studies/a/recommendation');
    // acc over 0.6..0.9, −loss over −1.4..−0.6: trial 0 → (0 + 0.5)/2, 1 → (1/3 + 0.75)/2,
    // 3 → (1 + 0)/2, 4 → (2/3 + 1)/2 = 0.8333 (the FAILed trial 2 is not ranked).
    expect(r.recommended.number).toBe(4);
    expect(r.recommended.values).toEqual([0.8, 0.6]);
    expect(r.recommended.score).toBeCloseTo(5 / 6, 12);
    expect(r.considered).toBe(4);
    expect(r.rule).toMatchObject({ weights: [1, 1], scale: 'minmax', declared: false });
    expect(r.rule.text).toContain('best mean of the 2 objectives (equal weights; each objective rescaled to [0, 1]');
    // base (0.5, 2.0) → (−1/3 − 0.75)/2; task arithmetic (0.75, 0.9) → (0.5 + 0.625)/2; the experts lack loss's task.
    expect(r.baselines.scores.base).toBeCloseTo(-13 / 24, 12);
    expect(r.baselines.scores.taskArithmetic).toBeCloseTo(0.5625, 12);
    expect(r.baselines.scores.experts).toBeNull();
    expect(r.baselines.taskArithmetic.lambda).toBe(0.4);
    expect(r.recommended.normalized).toBeNull(); // loss is minimised: no normalized accuracy
    expect(r.exportCommand).toBe(`npx mergesearch export --db ${path.join(root, 'studies.db')} --study a --trial 4 --out merged-a-4`);
  });

  it("follows the study's stored prefer: (loss weight 0: accuracy alone)", async () => {
    const r = await get('/api/studies/b/recommendation');
    expect(r.recommended.number).toBe(1);
    expect(r.recommended.score).toBe(1);
    expect(r.rule).toMatchObject({ weights: [1, 0], declared: true });
    expect(r.baselines).toBeNull();
  });
});

describe('GET /api/studies/:name/importance', () => {
  it("gives Spearman's ρ of each coefficient with each objective and with the score; a constant coefficient has none", async () => {
    const r = await get('/api/studies/a/importance');
    expect(r.coordinates).toEqual(['w[plain]', 'w[rot90]', 'w[invert]']);
    expect(r.objectives).toEqual(['acc', 'loss']);
    expect(r.trials).toBe(4);
    const done = A.filter((row): row is [number[], number[]] => row[1] !== 'FAIL');
    const col = (c: number) => done.map(([x]) => x[c]!);
    const obj = (o: number) => done.map(([, v]) => v[o]!);
    const score = [0.25, 13 / 24, 0.5, 5 / 6];
    for (const c of [0, 2]) {
      expect(r.spearman[c][0]).toBeCloseTo(spearman(col(c), obj(0)), 12);
      expect(r.spearman[c][1]).toBeCloseTo(spearman(col(c), obj(1)), 12);
      expect(r.score[c]).toBeCloseTo(spearman(col(c), score), 12);
    }
    expect(r.spearman[0][0]).toBeCloseTo(0.8, 12); // ranks 1 2 3 4 against 1 2 4 3
    expect(r.spearman[1]).toEqual([null, null]);
    expect(r.score[1]).toBeNull();
  });
});

describe('GET /api/studies/:name/compare', () => {
  it('curves every study with the same objectives on the same zoo, best so far at the trials spent', async () => {
    const r = await get('/api/studies/a/compare');
    expect(r.objectives).toEqual(['acc', 'loss']);
    expect(r.studies.map((s: { name: string }) => s.name).sort()).toEqual(['a', 'b']);
    const b = r.studies.find((s: { name: string }) => s.name === 'b');
    expect(b.optimizer).toBe('cmaes');
    expect(b.completed).toBe(3);
    // Scores on a's rule over both studies' trials (acc 0.6..0.9, −loss −1.4..−0.6):
    // 0 → (1/6 + 0.625)/2, 1 → (5/6 + 0.25)/2, 3 → (1/3 + 0.875)/2, each better than the last.
    expect(b.score.x).toEqual([1, 2, 4]);
    b.score.y.forEach((y: number, i: number) => expect(y).toBeCloseTo([19 / 48, 13 / 24, 29 / 48][i]!, 12));
    expect(b.objectives[0]).toEqual({ x: [1, 2, 4], y: [0.65, 0.85, 0.85] }); // the last trial always closes the curve
    expect(b.objectives[1]).toEqual({ x: [1, 4], y: [0.9, 0.7] }); // loss: lower is better
    const a = r.studies.find((s: { name: string }) => s.name === 'a');
    expect(a.score.x).toEqual([1, 2, 5]);
  });
});

describe('GET /api/studies/:name config as YAML', () => {
  it('shows the YAML as the user wrote it, or the stored config written out as YAML', async () => {
    const { study } = await get('/api/studies/a');
    expect(study.yaml).toEqual({ text: '# my study\nname: a\nbudget: {trials: 5}\n', from: 'written' });
    const other = (await get('/api/studies/b')).study;
    expect(other.yaml.from).toBe('stored');
    expect(YAML.parse(other.yaml.text)).toEqual(configOf('mnist8'));
  });
});
