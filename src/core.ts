// The part of mox's public surface that runs anywhere, Node or a browser: tensors, ops, autograd,
// devices (CPU, WebGPU), nn and optim. index.ts (Node) adds files, data, training loops, tokenizers
// and the model zoo; browser.ts adds the models that need no file system.

import './ops/tensor-methods.js'; // installs Tensor's chainable methods (x.add(y).sum()) before anything runs
export { Tensor, type NestedArray, type TensorOrScalar } from './tensor/tensor.js';
export type { DType, TypedArray } from './base/dtype.js';
export {
  tensor,
  zeros,
  ones,
  full,
  arange,
  linspace,
  eye,
  zerosLike,
  onesLike,
  fullLike,
  rand,
  randn,
  randint,
  randLike,
  randnLike,
  type CreateOptions,
  type TensorOptions,
  type RandomOptions,
} from './tensor/create.js';
export { Generator, seed, globalGenerator } from './tensor/random.js';
export { scope, keep, memory, setAutoFree, autoFreeEnabled, autoFreeStats, type DeviceMemory } from './tensor/memory.js';
export { noGrad, enableGrad, isGradEnabled } from './autograd/grad-mode.js';
export { detectAnomaly, setDetectAnomaly, isAnomalyEnabled } from './autograd/anomaly.js';
export { gradcheck, gradcheckDetailed, type GradcheckOptions } from './autograd/gradcheck.js';
export { getBackend, setDevice, listDevices, registerBackend, initDevice, sync, emptyCache } from './backend/registry.js';
export type { WebGPUOptions } from './backend/webgpu/gpu.js';
export type { Backend, View, UnaryOp, BinaryOp, ReduceOp, Window2d } from './backend/backend.js';
export * from './errors.js';
import { ValueError } from './errors.js';

export {
  neg,
  abs,
  sign,
  exp,
  expm1,
  log,
  log1p,
  sqrt,
  rsqrt,
  square,
  reciprocal,
  sin,
  cos,
  tanh,
  sigmoid,
  relu,
  leakyRelu,
  gelu,
  silu,
  erf,
  softplus,
  floor,
  ceil,
  round,
  clamp,
  powScalar,
  logicalNot,
} from './ops/unary.js';
export {
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  minimum,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
  logicalAnd,
  logicalOr,
  where,
  maskedFill,
} from './ops/binary.js';
export { sum, mean, max, min, prod, argmax, argmin, variance as var, std, logsumexp, type VarOptions } from './ops/reduce.js';
export { matmul, linear } from './ops/matmul.js';
export {
  reshape,
  transpose,
  permute,
  expand,
  squeeze,
  unsqueeze,
  flatten,
  slice,
  narrow,
  movedim,
  contiguous,
  clone,
  type SliceSpec,
} from './ops/view.js';
export { concat, concat as cat, stack, split, chunk, pad } from './ops/join.js';
export { indexSelect, gather, scatterAdd, embedding } from './ops/indexing.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { dropout } from './ops/dropout.js';
export { enableFusedAttention, fusedAttentionEnabled } from './ops/attention.js';

/** Module, Parameter, layers, init, summary, and nn.functional (the stateless forms), in torch.nn's shape. */
export * as nn from './nn/index.js';

/** Optimizers (SGD, Adam, AdamW, RMSprop), LR schedules and clipGradNorm, in torch.optim's shape. */
export * as optim from './optim/index.js';

import { getBackend as currentBackend } from './backend/registry.js';
import { cpuBackend } from './backend/cpu/cpu-backend.js';

/** What runs the kernels of the current device, e.g. { device: 'cpu', kernels: 'wasm-relaxed-simd', threads: 2 }. */
export function backendInfo(): Record<string, string | number> {
  const b = currentBackend();
  return b.info ? b.info() : { device: b.name };
}

/** Sets how many threads the CPU kernels may use (the calling thread included), like torch.set_num_threads. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new ValueError('setNumThreads', `expected a positive integer, got ${n}`);
  cpuBackend.setThreads(n);
}

/** The number of threads the CPU kernels use. */
export function getNumThreads(): number {
  return Number(cpuBackend.info().threads);
}
