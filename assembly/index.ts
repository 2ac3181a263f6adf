// The WebAssembly kernels of mox's CPU backend. Built twice by `npm run build` (scripts/build-wasm.mjs):
// plain SIMD and relaxed SIMD. Every function works on byte addresses in the imported shared memory,
// so the main thread and the worker threads run the same code on the same tensors.

export { sgemm, sgemmBatched, SCRATCH_FLOATS } from './gemm';
