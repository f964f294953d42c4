import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'breadcrumbs_ties',
  description: 'Model Breadcrumbs with TIES sign election',
  consensus: true,
  sparsify: 'magnitude_outliers',
  normalize: false,
  rescale: false,
});
