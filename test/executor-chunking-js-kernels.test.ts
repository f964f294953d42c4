// The executor's chunking suite (executor-chunking.test.ts) again, on the JavaScript reference
// kernels: its default run uses the wasm kernels, so both paths give chunking-independent bytes.
process.env.MERGESEARCH_KERNELS = 'js';
await import('./executor-chunking.test.ts');
