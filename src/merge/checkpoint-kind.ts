// What a checkpoint is, from its config.json, for the model card written beside a merge: a
// Hugging Face transformers model (a causal language model, or another architecture), one of
// mergesearch's own MLP classifiers (mnist8), or a folder with no config (tensors only). The card
// must not call an MLP digit classifier "a merge of pre-trained language models".

export interface CheckpointKind {
  /** What was merged, for "This is a merge of ..." (plural). */
  merged: string;
  /** The card's `library_name`: only for checkpoints that library loads. */
  libraryName?: string;
  /** The card's `pipeline_tag`, when the architecture says it. */
  pipelineTag?: string;
  /** Tags beside mergekit/mergesearch/merge. */
  tags: string[];
}

/** config.json `architectures[0]` of mergesearch's MLP classifiers (src/models/mlp-classifier.ts: MLP_ARCHITECTURE). */
const MLP_CLASSIFIER = 'MlpClassifier';

export function checkpointKind(config: Record<string, unknown> | undefined): CheckpointKind {
  const archs = config?.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (arch === MLP_CLASSIFIER) {
    const hidden = Array.isArray(config!.hidden_sizes) ? config!.hidden_sizes.join('-') : undefined;
    const tasks = Array.isArray(config!.tasks) ? config!.tasks.length : undefined;
    const shape = [hidden && `hidden layers ${hidden}`, tasks && `${tasks} task heads`].filter(Boolean).join(', ');
    return {
      merged: `MLP classifiers (mergesearch's ${MLP_CLASSIFIER} format${shape ? `: ${shape}` : ''}; not a transformers model)`,
      tags: ['classifier'],
    };
  }
  if (arch !== undefined && typeof config?.model_type === 'string') {
    if (arch.endsWith('ForCausalLM')) return { merged: `pre-trained causal language models (${arch})`, libraryName: 'transformers', pipelineTag: 'text-generation', tags: [] };
    return { merged: `${arch} models`, libraryName: 'transformers', tags: [] };
  }
  return { merged: `checkpoints${arch ? ` (${arch})` : ''}`, tags: [] };
}
