import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'task_arithmetic',
  description: 'base + lambda · Σ weightᵢ (modelᵢ − base)',
  consensus: false,
  sparsify: null,
  normalize: false,
  rescale: false,
});
