// A child process for the multi-process store tests (SQLite file or Postgres URL). Mode `rmw`
// competes with its siblings for the write lock, doing the trial loop's read-modify-write of the
// optimizer state and trial creation; mode `claim` claims WAITING trials until none is left.
// Usage: node --import tsx study-worker.ts DB STUDY WORKER ITERATIONS [rmw|claim]
import { StudyStore } from '../../src/study/index.ts';

const [db, studyName, worker, iterations, mode = 'rmw'] = process.argv.slice(2);
if (!db || !studyName || !worker || !iterations) throw new Error('usage: study-worker.ts DB STUDY WORKER ITERATIONS [rmw|claim]');

const store = StudyStore.open(db);
const study = store.getStudy(studyName);
const numbers: number[] = [];
if (mode === 'claim') {
  for (let t = store.claimWaitingTrial(study.id, worker); t; t = store.claimWaitingTrial(study.id, worker)) {
    store.finishTrial(study.id, t.number, { state: 'COMPLETE', values: [t.x[0] ?? NaN] });
    numbers.push(t.number);
  }
} else {
  for (let i = 0; i < Number(iterations); i++) {
    const trial = store.transaction(() => {
      const saved = store.loadOptimizerState(study.id)?.state as { counter: number } | undefined;
      const counter = (saved?.counter ?? 0) + 1;
      store.saveOptimizerState(study.id, { counter });
      return store.createTrial(study.id, { state: 'RUNNING', worker, x: [counter] });
    });
    store.finishTrial(study.id, trial.number, { state: 'COMPLETE', values: [trial.number] });
    numbers.push(trial.number);
  }
}
store.close();
process.stdout.write(JSON.stringify({ worker, numbers }) + '\n');
