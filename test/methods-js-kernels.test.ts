// The method oracle suite (methods.test.ts) again, on the JavaScript reference kernels: the default
// run of methods.test.ts uses the wasm kernels, so both paths meet the same float64 reference.
process.env.MERGESEARCH_KERNELS = 'js';
await import('./methods.test.ts');
