// The classifier MLP's tensor names and numeric constants, in a module of their own so that the
// scoring worker threads (mlp-forward-worker.ts) can use them without loading tfjs.

/** LayerNorm's epsilon (torch's default). */
export const LAYER_NORM_EPS = 1e-5;
/** Floor on L2 norms before dividing (torch.nn.functional.normalize's default). */
export const NORM_FLOOR = 1e-12;

/** The tensor-name prefix of backbone layer i and of a task's head. */
export const mlpLayerName = (i: number) => `backbone.layers.${i}`;
export const mlpHeadName = (task: string) => `heads.${task}`;
