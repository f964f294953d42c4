// npm run bench:store [-- --trials 200 --db postgres://...]
// What keeping a study in PostgreSQL costs the trial loop, against SQLite measured in the same run:
// the loop's store work per trial (claim, ask, create, record, tell: a dozen statements in a few
// transactions) with a trivial problem, so the store is all that is timed, and one statement's
// round trip. Without --db a throwaway cluster is started on this machine (Debian postgresql).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runTrials } from '../../src/search/loop.ts';
import { getOptimizer, resolveSettings } from '../../src/search/optimizers/index.ts';
import { StudyStore } from '../../src/study/index.ts';
import { contextFor } from '../../test/helpers/optimizer-context.ts';
import { startPgCluster } from '../../test/helpers/pg-cluster.ts';
import { SyntheticProblem } from '../../test/helpers/synthetic-problem.ts';

const args = process.argv.slice(2);
const arg = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const TRIALS = Number(arg('--trials') ?? 200);

async function perTrialMs(db: string): Promise<{ trialMs: number; statementMs: number }> {
  const store = StudyStore.open(db);
  try {
    const problem = new SyntheticProblem();
    const optimizer = getOptimizer('random');
    const ctx = contextFor(problem.space, problem.objectives, { seed: 1, budget: TRIALS, settings: resolveSettings(optimizer, {}) });
    const study = store.createStudy({ name: `bench-${Date.now()}`, config: {}, backend: 'cpu', seed: 1, optimizer: 'random', objectives: ctx.objectives });
    const t0 = performance.now();
    await runTrials({ store, study, problem, optimizer, ctx, budget: { trials: TRIALS } });
    const trialMs = (performance.now() - t0) / TRIALS;
    const t1 = performance.now();
    for (let i = 0; i < 500; i++) store.countTrials(study.id);
    return { trialMs, statementMs: (performance.now() - t1) / 500 };
  } finally {
    store.close();
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-store-'));
let stop = () => {};
try {
  let url = arg('--db');
  if (url === undefined) {
    const c = await startPgCluster();
    if ('skip' in c) throw new Error(c.skip);
    stop = () => c.stop();
    url = c.createDatabase('bench');
  }
  const sqlite = await perTrialMs(path.join(tmp, 'bench.db'));
  const pg = await perTrialMs(url);
  const row = (name: string, r: { trialMs: number; statementMs: number }) =>
    `${name.padEnd(10)} ${r.trialMs.toFixed(2).padStart(8)} ms/trial  ${r.statementMs.toFixed(3).padStart(7)} ms/statement`;
  console.log(`trial loop store work, ${TRIALS} trials (random optimizer, trivial problem), ${os.cpus().length} cores`);
  console.log(row('sqlite', sqlite));
  console.log(row('postgres', pg));
  console.log(`postgres / sqlite: ${(pg.trialMs / sqlite.trialMs).toFixed(1)}× per trial, ${(pg.statementMs / sqlite.statementMs).toFixed(1)}× per statement`);
} finally {
  stop();
  fs.rmSync(tmp, { recursive: true, force: true });
}
