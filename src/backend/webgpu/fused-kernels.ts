// The WebGPU backend's fused kernels, in WGSL (kernels/rows.ts, attention.ts, optim.ts, quant.ts),
// registered by name for the 'webgpu' device. Attention's `supports` asks the GPU's limits.

import { fusedKernelRegistrar } from '../fused.js';
import type { WebGPUBackend } from './webgpu-backend.js';
import * as R from './kernels/rows.js';
import * as A from './kernels/attention.js';
import { adamUpdate } from './kernels/optim.js';
import * as Q from './kernels/quant.js';

const register = fusedKernelRegistrar<WebGPUBackend>('webgpu');

register('layerNorm', {
  forward: (b, x, weight, bias, eps) => R.layerNorm(b.engine, x, weight, bias, eps),
  backward: (b, g, x, mean, rstd, weight, withBias) => R.layerNormBackward(b.engine, g, x, mean, rstd, weight, withBias),
});

register('crossEntropy', {
  forward: (b, logits, target, ignoreIndex, labelSmoothing) => R.crossEntropy(b.engine, logits, target, ignoreIndex, labelSmoothing),
  backward: (b, gout, logits, target, lse, ignoreIndex, labelSmoothing) =>
    R.crossEntropyBackward(b.engine, gout, logits, target, lse, ignoreIndex, labelSmoothing),
});

register('attention', {
  supports: (b, q, k, v) => A.supportsAttention(q, k, v, b.device.limits),
  forward: (b, q, k, v, causal, scale, dropout) => A.attention(b.engine, q, k, v, causal, scale, dropout),
  backward: (b, g, q, k, v, out, lse, causal, scale, dropout) =>
    A.attentionBackward(b.engine, g, q, k, v, out, lse, causal, scale, dropout),
});

register('adamStep', {
  forward: (b, param, grad, m, v, h, vmax) => adamUpdate(b.engine, param, grad, m, v, h, vmax),
});

register('quantMatmul', {
  forward: (b, x, w, bias) => Q.quantMatmul(b.engine, x, w, bias),
});

// an id out of range gives a row of zeros, as indexSelect does on the GPU (the CPU raises)
register('quantRows', {
  forward: (b, w, ids) => Q.quantRows(b.engine, w, ids),
});
