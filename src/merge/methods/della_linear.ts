import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'della_linear',
  description: 'DELLA sparsification without sign election',
  consensus: false,
  sparsify: 'della_magprune',
  normalize: false,
  rescale: true,
});
