import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'dare_linear',
  description: 'DARE: drop task-vector entries at random (keep with probability density), rescale, sum',
  consensus: false,
  sparsify: 'random',
  normalize: false,
  rescale: true,
});
