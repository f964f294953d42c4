// RegMean++ (Nguyen et al. 2025, "RegMean++: Enhancing Effectiveness and Generalization of
// Regression Mean for Model Merging"): RegMean whose Gram matrices take every layer's inputs from
// the model whose *earlier* layers are already merged, layer by layer, instead of from each
// expert alone — so later layers are fitted to the inputs the merged model will actually feed them.
// Within a layer the expert's own sub-modules produce the inputs (as the reference does).
//
// The merge itself is RegMean's (regmean.ts: alpha 0.95, non-linear tensors averaged); only the
// Grams differ. They are `gram_plus:` entries of the statistics files, produced for a zoo's experts
// by `mergesearch stats --zoo DIR --kind gram_plus [--alpha A]` (src/stats/regmean-plus.ts for MLP
// classifiers, llama-regmean-plus.ts for Llama-family decoders, block by block), which merges the
// earlier layers with that alpha: use the same alpha here for the reference's result.
import { regmeanFamily } from './regmean.ts';

export default regmeanFamily(
  'regmean_plus',
  'RegMean++: RegMean with each layer\'s Grams from the partially merged model\'s inputs (layer by layer)',
  'gram_plus',
);
