// The writing search of `npm run bench:server`: a separate process that adds one finished trial
// to the bench study every `--every` ms (as a search would), until its parent closes stdin.
import { StudyStore } from '../../src/study/index.ts';

const [db, name, everyMs, dim] = process.argv.slice(2);
const store = StudyStore.open(db!);
const s = store.getStudy(name!);
let n = 0;
const timer = setInterval(() => {
  const t = store.createTrial(s.id, { state: 'RUNNING', worker: 'bench-writer', x: Array.from({ length: Number(dim) }, (_, i) => ((n + i) % 97) / 97) });
  store.finishTrial(s.id, t.number, { state: 'COMPLETE', values: [n % 10 / 10, 1 - (n % 7) / 7, n % 3] });
  n++;
}, Number(everyMs));
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(timer);
  store.close();
  process.stdout.write(`${n}\n`);
});
