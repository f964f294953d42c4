// The demo: build a tiny synthetic Llama-shaped base and three experts (seeded, nothing
// downloaded), check they are mergeable, and merge them with the recipes in this folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { writeCharTokenizer } from '../../src/models/tokenizer.ts';
import { TINY_LLAMA, writeSyntheticFamily } from '../../src/zoo/synthetic-llama.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const checkpoints = path.join(here, 'checkpoints');
const out = path.join(here, 'out');

if (!fs.existsSync(path.join(checkpoints, 'expert-3'))) {
  console.log(`building a tiny base and 3 experts in ${checkpoints}`);
  writeSyntheticFamily(checkpoints, TINY_LLAMA, 3, { seed: 1, dtype: 'F16' });
}
// Character tokenizers (3 specials + 125 characters = the 128-token vocabulary): expert-2's last 10
// characters are Hebrew letters the others lack, so tokenizer.yaml's union has 138 tokens.
if (!fs.existsSync(path.join(checkpoints, 'expert-2', 'tokenizer.json'))) {
  const ascii = Array.from({ length: 94 }, (_, i) => String.fromCodePoint(0x21 + i));
  const greek = Array.from({ length: 25 }, (_, i) => String.fromCodePoint(0x3b1 + i));
  const cyrillic = Array.from({ length: 6 }, (_, i) => String.fromCodePoint(0x430 + i));
  const shared = [...ascii, ...greek, ...cyrillic];
  const hebrew = Array.from({ length: 10 }, (_, i) => String.fromCodePoint(0x5d0 + i));
  for (const name of ['base', 'expert-1', 'expert-2', 'expert-3']) {
    writeCharTokenizer(path.join(checkpoints, name), name === 'expert-2' ? [...shared.slice(0, -10), ...hebrew] : shared);
  }
}
process.chdir(here);
await main(['node', 'mergesearch', 'inspect', 'checkpoints/base', 'checkpoints/expert-1', 'checkpoints/expert-2', 'checkpoints/expert-3']);
for (const recipe of ['ties.yaml', 'dare_ties.yaml', 'widen.yaml', 'frankenmerge.yaml', 'multi.yaml', 'tokenizer.yaml']) {
  const dir = path.join(out, path.basename(recipe, '.yaml'));
  console.log(`\n$ mergesearch merge ${recipe} --out ${path.relative(here, dir)} --overwrite`);
  await main(['node', 'mergesearch', 'merge', recipe, '--out', dir, '--overwrite']);
}
await main(['node', 'mergesearch', 'inspect', path.join(out, 'ties')]);
