// How many merge worker threads to use unless told: the cores, at most 8 (more only contend for memory bandwidth).
import os from 'node:os';

export function defaultThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 8));
}
