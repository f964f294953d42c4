// A child process for the multi-process store test: it competes with its siblings for the write
// lock, doing the trial loop's read-modify-write of the optimizer state and trial creation.
// Usage: node --import tsx study-worker.ts FILE STUDY WORKER ITERATIONS
import { StudyStore } from '../../src/study/index.ts';

const [file, studyName, worker, iterations] = process.argv.slice(2);
if (!file || !studyName || !worker || !iterations) throw new Error('usage: study-worker.ts FILE STUDY WORKER ITERATIONS');

const store = StudyStore.open(file);
const study = store.getStudy(studyName);
const numbers: number[] = [];
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
store.close();
process.stdout.write(JSON.stringify({ worker, numbers }) + '\n');
