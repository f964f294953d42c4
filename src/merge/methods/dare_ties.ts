import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'dare_ties',
  description: 'DARE sparsification with TIES sign election',
  consensus: true,
  sparsify: 'random',
  normalize: false,
  rescale: true,
});
