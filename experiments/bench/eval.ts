// npm run bench:eval [-- --zoo DIR] [-- --candidates N]
// Candidates scored per second on mnist8: each candidate merges the eight experts' backbones in
// memory (task arithmetic with its own coefficients per expert) and scores all 8 tasks on 1,000
// calibration samples each, without touching disk. Prints the split between building and scoring,
// and the ratio to a baseline measured in the same run: scoring a fixed backbone (no building).
import fs from 'node:fs';
import { initEngine } from '../../src/tensor/engine.ts';
import { buildMnist8 } from '../../src/zoo/mnist8.ts';
import { seededRandom } from '../../src/zoo/mnist-data.ts';
import { backboneOf, loadClassifierZoo, mergeBackbone, scoreBackbone } from '../../src/zoo/zoo-models.ts';

const args = process.argv.slice(2);
const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const zooDir = flag('--zoo') ?? 'zoo/mnist8';
const count = Number(flag('--candidates') ?? 20);
const engine = await initEngine('auto');
if (!fs.existsSync(`${zooDir}/manifest.json`)) buildMnist8({ out: zooDir, seed: 0, onLog: (l) => console.error(l) });
const zoo = loadClassifierZoo(zooDir);
const LIMIT = 1000;

const fixed = backboneOf(zoo.base);
// Warm up both paths (data upload, kernel compilation) before timing either.
scoreBackbone(zoo, fixed, 'calibration', LIMIT);
scoreBackbone(zoo, mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 0.3 } }), 'calibration', LIMIT);
let t0 = performance.now();
for (let i = 0; i < count; i++) scoreBackbone(zoo, fixed, 'calibration', LIMIT);
const baselineSecs = (performance.now() - t0) / 1000 / count;

const rand = seededRandom(1);
let build = 0;
let score = 0;
for (let i = 0; i < count; i++) {
  t0 = performance.now();
  const b = mergeBackbone(zoo, { method: 'task_arithmetic', global: { lambda: 1 }, perModel: zoo.experts.map(() => ({ weight: 0.1 + 0.4 * rand() })) });
  const t1 = performance.now();
  scoreBackbone(zoo, b, 'calibration', LIMIT);
  build += t1 - t0;
  score += performance.now() - t1;
}
const per = (build + score) / 1000 / count;
console.log(`mnist8 candidates on ${engine.backend}: ${count} candidates, 8 tasks × ${LIMIT} calibration samples each`);
console.log(`candidates per second   ${(1 / per).toFixed(2)}`);
console.log(`time per candidate      ${(per * 1000).toFixed(1)} ms (building ${((100 * build) / (build + score)).toFixed(0)} %, scoring ${((100 * score) / (build + score)).toFixed(0)} %)`);
console.log(`baseline (score only)   ${(1 / baselineSecs).toFixed(2)} per second; ratio candidate / baseline throughput ${(baselineSecs / per).toFixed(2)}`);
