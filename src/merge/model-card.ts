// The README model card written beside a merged checkpoint, in the shape mergekit users know.
import path from 'node:path';
import type { Recipe } from './recipe.ts';
import { inputBase, inputModels } from './recipe.ts';
import { mergekitNotes } from './mergekit-compat.ts';

export function modelCard(recipe: Recipe, outDir: string, extra = ''): string {
  const base = inputBase(recipe);
  const merged = inputModels(recipe);
  const lines = [
    '---',
    'base_model:',
    ...[...(base ? [base] : []), ...merged].map((m) => `- ${m.ref}`),
    'library_name: transformers',
    'tags:',
    '- mergekit',
    '- mergesearch',
    '- merge',
    '---',
    `# ${path.basename(outDir)}`,
    '',
    'This is a merge of pre-trained language models created with mergesearch, using a mergekit-compatible recipe.',
    '',
    '## Merge Details',
    '### Merge Method',
    '',
    `This model was merged using the ${recipe.method.name} merge method${base ? ` using ${base.ref} as a base` : ''}: ${recipe.method.description}.`,
    '',
    '### Models Merged',
    '',
    'The following models were included in the merge:',
    ...merged.map((m) => `* ${m.ref}`),
    '',
    '### Configuration',
    '',
    'The following YAML configuration was used to produce this model:',
    '',
    '```yaml',
    recipe.text.trimEnd(),
    '```',
    '',
  ];
  const notes = mergekitNotes(recipe);
  if (notes.length > 0) {
    lines.push('### Reproducing with mergekit', '', 'mergekit cannot reproduce this merge exactly from the configuration above:', '', ...notes.map((n) => `* ${n}.`), '');
  }
  return lines.join('\n') + extra;
}
