import { taskArithmeticFamily } from '../task-arithmetic-family.ts';

export default taskArithmeticFamily({
  name: 'della',
  description: 'DELLA: drop entries at random with keep probability rising with magnitude rank, TIES sign election',
  consensus: true,
  sparsify: 'della_magprune',
  normalize: true,
  rescale: true,
});
