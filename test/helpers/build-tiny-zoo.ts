// Child process of tiny-zoos.ts: build one tiny zoo. Arguments: the spec as JSON, the output folder.
// The wasm backend, as the tests that built zoos in their own process used.
import { initEngine } from '../../src/tensor/engine.ts';
import { buildMnist8 } from '../../src/zoo/mnist8.ts';
import { buildSkills4 } from '../../src/zoo/skills4.ts';

const [specJson, out] = process.argv.slice(2);
if (!specJson || !out) throw new Error('usage: build-tiny-zoo.ts <spec json> <out folder>');
const spec = JSON.parse(specJson) as { family: 'mnist8' | 'skills4'; seed: number; steps?: { base: number; experts: number } };
await initEngine('wasm');
if (spec.family === 'mnist8') buildMnist8({ out, seed: spec.seed, tiny: true });
else buildSkills4({ out, seed: spec.seed, tiny: true, ...(spec.steps ? { steps: spec.steps } : {}) });
