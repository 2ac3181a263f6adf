// The WebAssembly kernels of mox's CPU backend. Built twice by `npm run build` (scripts/build-wasm.mjs):
// plain SIMD and relaxed SIMD. Every function works on byte addresses in the imported shared memory,
// so the main thread and the worker threads run the same code on the same tensors.

export { sgemm, sgemmBatched, SCRATCH_FLOATS } from './matmul';
export { unaryF32, binaryF32, compareF32, whereF32, copy32, copy32x3, zeroBytes } from './elementwise';
export { reduceRowsF32, reduceColsF32 } from './reduce';
export { adamStepF32 } from './optim';
export { im2colF32, col2imF32, maxPool2dF32, maxPool2dBackwardF32, avgPool2dF32, avgPool2dBackwardF32 } from './window';
export { gatherRowsF32, scatterAddRowsF32 } from './indexing';
export { vexp } from './vmath';
export { softmaxRows, layerNormRows, layerNormBackwardRows, layerNormParams, crossEntropyRows, crossEntropyBackwardRows } from './rows';
export { attentionF32, attentionBackwardF32 } from './attention';
export { q8MatmulF32, quantizeRowsU7, q8DynMatmul, quantizeRowsQ8, q4MatmulQ8 } from './quant';
