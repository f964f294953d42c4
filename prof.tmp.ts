import { mergeToFolder } from './src/merge/merge-to-folder.ts';
import { parseRecipe } from './src/merge/recipe.ts';
const m = process.argv[2]!;
const r = `merge_method: ${m}\nbase_model: /tmp/bench1/base\nmodels:\n` + [1,2,3].map(i=>`  - model: /tmp/bench1/expert-${i}\n    parameters: {weight: 1, density: 0.2}\n`).join('');
const t0 = Date.now();
await mergeToFolder(parseRecipe(r), { out: '/tmp/prof-out', threads: 1, overwrite: true });
console.log(m, (Date.now()-t0)/1000, 's');
