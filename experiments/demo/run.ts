// The demo: build a tiny synthetic Llama-shaped base and three experts (seeded, nothing
// downloaded), check they are mergeable, and merge them with the recipes in this folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { TINY_LLAMA, writeSyntheticFamily } from '../../src/zoo/synthetic-llama.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkpoints = path.join(here, 'checkpoints');
const out = path.join(here, 'out');

if (!fs.existsSync(path.join(checkpoints, 'expert-3'))) {
  console.log(`building a tiny base and 3 experts in ${checkpoints}`);
  writeSyntheticFamily(checkpoints, TINY_LLAMA, 3, { seed: 1, dtype: 'F16' });
}
process.chdir(here);
await main(['node', 'mergesearch', 'inspect', 'checkpoints/base', 'checkpoints/expert-1', 'checkpoints/expert-2', 'checkpoints/expert-3']);
for (const recipe of ['ties.yaml', 'dare_ties.yaml', 'widen.yaml', 'frankenmerge.yaml', 'multi.yaml']) {
  const dir = path.join(out, path.basename(recipe, '.yaml'));
  console.log(`\n$ mergesearch merge ${recipe} --out ${path.relative(here, dir)} --overwrite`);
  await main(['node', 'mergesearch', 'merge', recipe, '--out', dir, '--overwrite']);
}
await main(['node', 'mergesearch', 'inspect', path.join(out, 'ties')]);
