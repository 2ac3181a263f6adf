// Fused kernels by name, per device. A fused kernel does in one pass (and one graph node) what an op
// can also compose from primitives: the composed form in ops/ is the reference and runs wherever a
// device registers no kernel of that name, or its `supports` check says no. Devices register here
// (cpu/fused-kernels.ts, webgpu/fused-kernels.ts); ops/fused.ts is the one place that chooses.
//
// Adding a kernel: add its entry to FusedKernelTypes (a new file may do so by declaration merging,
// `declare module '../backend/fused.js' { interface FusedKernelTypes<B> { ... } }`), register it per
// device, and route its op through dispatchFused with the composed reference beside it.

import type { AdamHyper, AttentionDropout, Backend, Buffer, View } from './backend.js';
import type { QuantWeightViews } from './quant-format.js';

/**
 * Each fused kernel's functions. Every function takes the backend it runs on first (the registry is
 * per device, so a device's kernels get its own backend class as B). `supports`, where a kernel has
 * it, says whether the kernel takes a call of these shapes; ops ask it before calling `forward`.
 */
export interface FusedKernelTypes<B extends Backend = Backend> {
  /**
   * Layer norm over the last axis of x [..., D]: y = (x - mean) * rstd * weight + bias, with weight and
   * bias [D] or null, and per-row mean and rstd = 1/sqrt(biased var + eps), shaped x.shape without its
   * last axis. All of x's float dtype. The backward gives dbias only when withBias.
   */
  layerNorm: {
    forward(b: B, x: View, weight: View | null, bias: View | null, eps: number): { y: Buffer; mean: Buffer; rstd: Buffer };
    backward(
      b: B,
      g: View,
      x: View,
      mean: View,
      rstd: View,
      weight: View | null,
      withBias: boolean,
    ): { dx: Buffer; dweight: Buffer | null; dbias: Buffer | null };
  };
  /**
   * Cross-entropy with logits [N, C] and int32 targets [N]: per-row loss (1 - s) * (lse - x[t]) +
   * s * (lse - mean(x)) for label smoothing s, lse = logsumexp of the row; both 0 where t == ignoreIndex.
   * Targets must be in [0, C) or ignoreIndex. The backward gives dlogits [N, C] = gout[r] * (softmax(x)
   * - (1 - s) * onehot(t) - s / C), zero rows where t == ignoreIndex; gout is [N] (stride 0 for one
   * shared value) and lse the forward's.
   */
  crossEntropy: {
    forward(b: B, logits: View, target: View, ignoreIndex: number, labelSmoothing: number): { loss: Buffer; lse: Buffer };
    backward(b: B, gout: View, logits: View, target: View, lse: View, ignoreIndex: number, labelSmoothing: number): Buffer;
  };
  /**
   * Scaled-dot-product attention, flash-attention style: q [..., Lq, E], k [..., Lk, E], v [..., Lk, Ev]
   * with equal leading (batch) shapes, stride 0 where broadcast. out [..., Lq, Ev] = softmax(q k^T *
   * scale) v, contiguous; lse [..., Lq] is the log-sum-exp of each query row's scaled, masked scores
   * (float32), all the backward needs to rebuild the weights. With `causal`, query i sees keys j <= i
   * (upper-left aligned, PyTorch's is_causal). With `dropout`, the weights are dropped by the rule of
   * AttentionDropout after the softmax (lse is of the undropped weights). All float32. The backward
   * recomputes the weights from out and lse and gives dq, dk, dv contiguous, shaped as q, k, v.
   * `supports` says whether the kernels take q, k, v of these shapes; they raise an error where it is
   * false (a DeviceError for sizes they lack).
   */
  attention: {
    supports(b: B, q: readonly number[], k: readonly number[], v: readonly number[]): boolean;
    forward(
      b: B,
      q: View,
      k: View,
      v: View,
      causal: boolean,
      scale: number,
      dropout?: AttentionDropout | null,
    ): { out: Buffer; lse: Buffer };
    backward(
      b: B,
      g: View,
      q: View,
      k: View,
      v: View,
      out: View,
      lse: View,
      causal: boolean,
      scale: number,
      dropout?: AttentionDropout | null,
    ): { dq: Buffer; dk: Buffer; dv: Buffer };
  };
  /**
   * One Adam/AdamW step in place: updates param, m, v (and vmax, for amsgrad) where they lie, and
   * returns nothing (an optimizer step has no backward). All views contiguous, one float dtype, one shape.
   */
  adamStep: {
    forward(b: B, param: View, grad: View, m: View, v: View, h: AdamHyper, vmax?: View | null): void;
  };
  /**
   * x [M, K] float32 (rows may be spaced, columns contiguous) times the transpose of a quantized weight
   * [N, K] (quant-format.ts: its layout, packing and exact arithmetic), plus bias [N] or null: out
   * [M, N] float32, contiguous. Dequantizes inside the kernel (no float copy of the weight); within
   * float rounding of quantMatmulReference. Inference only: it has no backward.
   */
  quantMatmul: {
    forward(b: B, x: View, w: QuantWeightViews, bias: View | null): Buffer;
  };
  /**
   * Rows `ids` [n] (int32, each in [0, N)) of a quantized weight [N, K], dequantized: [n, K] float32,
   * contiguous (a quantized embedding's lookup). Ids out of range raise an IndexError.
   */
  quantRows: {
    forward(b: B, w: QuantWeightViews, ids: View): Buffer;
  };
}

export type FusedKernelName = keyof FusedKernelTypes;
export type FusedKernel<N extends FusedKernelName, B extends Backend = Backend> = FusedKernelTypes<B>[N];

// device name -> kernel name -> kernel. Stored untyped: registerFusedKernel and fusedKernel keep the
// name and its type together, and the device name ties B to the backend the kernel is called with.
const kernels = new Map<string, Map<FusedKernelName, unknown>>();

/**
 * Registers `kernel` as the fused `name` of device `device` (a backend's name), replacing any earlier
 * one. B is that device's backend class: its kernels receive it as their first argument.
 */
export function registerFusedKernel<N extends FusedKernelName, B extends Backend = Backend>(
  device: string,
  name: N,
  kernel: FusedKernel<N, B>,
): void {
  let byName = kernels.get(device);
  if (!byName) kernels.set(device, (byName = new Map()));
  byName.set(name, kernel);
}

/** Removes device's fused `name` (its ops then run the composed reference); returns what was there. */
export function unregisterFusedKernel<N extends FusedKernelName>(device: string, name: N): FusedKernel<N> | null {
  const k = fusedKernel(device, name);
  kernels.get(device)?.delete(name);
  return k;
}

/** Device's fused `name`, or null where it registered none. */
export function fusedKernel<N extends FusedKernelName>(device: string, name: N): FusedKernel<N> | null {
  return (kernels.get(device)?.get(name) as FusedKernel<N> | undefined) ?? null;
}

/** The names of the fused kernels a device has registered (for backendInfo and tests). */
export function fusedKernelNames(device: string): FusedKernelName[] {
  return [...(kernels.get(device)?.keys() ?? [])];
}

/** registerFusedKernel bound to one device and its backend class, so each registration names only the kernel. */
export function fusedKernelRegistrar<B extends Backend>(
  device: string,
): <N extends FusedKernelName>(name: N, kernel: FusedKernel<N, B>) => void {
  return (name, kernel) => registerFusedKernel<typeof name, B>(device, name, kernel);
}
