import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'ties',
  description: 'TIES: keep the top density of |τ| per model, elect signs, average the agreeing entries',
  consensus: true,
  sparsify: 'magnitude',
  normalize: true,
  rescale: false,
});
