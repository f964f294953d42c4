import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'breadcrumbs',
  description: 'Model Breadcrumbs: drop the largest (gamma) and smallest task-vector entries, sum',
  consensus: false,
  sparsify: 'magnitude_outliers',
  normalize: false,
  rescale: false,
});
