// The CPU's fused kernels: the WASM SIMD kernel where it takes the call (float32, the layouts that
// matter), the TypeScript kernel of rows.ts / optim.ts otherwise, as the primitives do. Attention
// has no TypeScript kernel: without WASM its `supports` says no and ops compose it.

import { type FusedKernel, type FusedKernelName, fusedKernelRegistrar } from '../fused.js';
import { traceCall } from './kernel-trace.js';
import { DeviceError } from '../../errors.js';
import type { CpuBackend } from './cpu-backend.js';
import type { WasmRuntime } from './wasm/runtime.js';
import { crossEntropy, crossEntropyBackward, layerNorm, layerNormBackward } from './rows.js';
import { adamUpdate } from './optim.js';
import { crossEntropyBackwardF32, crossEntropyF32, layerNormBackwardF32, layerNormF32 } from './wasm/rows.js';
import { attentionBackwardF32, attentionF32, supportsAttentionF32 } from './wasm/attention.js';
import { adamUpdateF32 } from './wasm/optim.js';
import { quantMatmul, quantRows } from './quant.js';
import { quantMatmulF32 } from './wasm/quant.js';

const registrar = fusedKernelRegistrar<CpuBackend>('cpu');

/** Registers a kernel, each of its functions traced as `cpu.<name>.<function>` under MOX_TRACE_KERNELS. */
function register<N extends FusedKernelName>(name: N, kernel: FusedKernel<N, CpuBackend>): void {
  const traced: Record<string, unknown> = {};
  for (const [key, fn] of Object.entries(kernel)) {
    traced[key] = key === 'supports' ? fn : traceCall(`cpu.${name}.${key}`, fn as (...args: never[]) => unknown);
  }
  registrar(name, traced as FusedKernel<N, CpuBackend>);
}

register('layerNorm', {
  forward(b, x, weight, bias, eps) {
    const fast = b.rt && layerNormF32(b.rt, x, weight, bias, eps);
    if (fast) return fast;
    const r = layerNorm(x, weight, bias, eps);
    return { y: b.adopt(r.y), mean: b.adopt(r.mean), rstd: b.adopt(r.rstd) };
  },
  backward(b, g, x, mean, rstd, weight, withBias) {
    const fast = b.rt && layerNormBackwardF32(b.rt, g, x, mean, rstd, weight, withBias);
    if (fast) return fast;
    const r = layerNormBackward(g, x, mean, rstd, weight, withBias);
    return { dx: b.adopt(r.dx), dweight: r.dweight && b.adopt(r.dweight), dbias: r.dbias && b.adopt(r.dbias) };
  },
});

register('crossEntropy', {
  forward(b, logits, target, ignoreIndex, labelSmoothing) {
    const fast = b.rt && crossEntropyF32(b.rt, logits, target, ignoreIndex, labelSmoothing);
    if (fast) return fast;
    const r = crossEntropy(logits, target, ignoreIndex, labelSmoothing);
    return { loss: b.adopt(r.loss), lse: b.adopt(r.lse) };
  },
  backward(b, gout, logits, target, lse, ignoreIndex, labelSmoothing) {
    const fast = b.rt && crossEntropyBackwardF32(b.rt, gout, logits, target, lse, ignoreIndex, labelSmoothing);
    if (fast) return fast;
    return b.adopt(crossEntropyBackward(gout, logits, target, lse, ignoreIndex, labelSmoothing));
  },
});

register('attention', {
  supports: (b, q, k, v) => b.rt !== null && supportsAttentionF32(q, k, v),
  forward: (b, q, k, v, causal, scale, dropout) => attentionF32(wasm(b, 'attention'), q, k, v, causal, scale, dropout),
  backward: (b, g, q, k, v, out, lse, causal, scale, dropout) =>
    attentionBackwardF32(wasm(b, 'attentionBackward'), g, q, k, v, out, lse, causal, scale, dropout),
});

register('adamStep', {
  forward(b, param, grad, m, v, h, vmax) {
    if (b.rt && adamUpdateF32(b.rt, param, grad, m, v, h, vmax)) return;
    adamUpdate(param, grad, m, v, h, vmax);
  },
});

register('quantMatmul', {
  forward(b, x, w, bias) {
    const fast = b.rt && quantMatmulF32(b.rt, x, w, bias);
    if (fast) return fast;
    return b.adopt(quantMatmul(x, w, bias));
  },
});

// one row per token: the host arithmetic over the heap is as fast as a kernel call would be
register('quantRows', {
  forward: (b, w, ids) => b.adopt(quantRows(w, ids)),
});

function wasm(b: CpuBackend, op: string): WasmRuntime {
  const rt = b.rt;
  if (!rt)
    throw new DeviceError(op, 'the fused kernel needs the WebAssembly kernels, which are not running (mox.backendInfo() says which are)');
  return rt;
}
