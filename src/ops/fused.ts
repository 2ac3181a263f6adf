// The one place that chooses between a device's fused kernel and an op's composed reference. The
// rule: the fused kernel runs when the call is eligible (the op's own test: dtypes, options, a global
// switch such as enableFusedAttention), the device registered a kernel of that name
// (backend/fused.ts), and the kernel's `supports` check, where it has one, says yes. Otherwise the
// composed reference runs: the same result from primitives, and the definition the kernels are
// tested against.

import type { Backend } from '../backend/backend.js';
import { fusedKernel, type FusedKernel, type FusedKernelName } from '../backend/fused.js';

/** The arguments of kernel N's `supports` check, after the backend (never for kernels without one). */
export type SupportsArgs<N extends FusedKernelName> =
  FusedKernel<N> extends { supports(b: Backend, ...args: infer A): boolean } ? A : never;

export interface FusedCall<N extends FusedKernelName, R> {
  /** The device the call runs on: its registered kernel is the one that runs. */
  readonly backend: Backend;
  /** False where the call is the reference's alone (a dtype, mask or option the kernel lacks, or fusion switched off). */
  readonly eligible: boolean;
  /** What the kernel's `supports` check is asked, for kernels that have one. */
  readonly supports?: SupportsArgs<N> | null;
  /** Runs the call on the fused kernel (forward, and the graph node whose backward is the kernel's). */
  fused(kernel: FusedKernel<N>): R;
  /** Runs the call composed from primitives. */
  reference(): R;
}

/** Runs `call` on backend's fused kernel `name` where the rule above allows it, on its reference otherwise. */
export function dispatchFused<N extends FusedKernelName, R>(name: N, call: FusedCall<N, R>): R {
  const kernel = call.eligible ? fusedKernel(call.backend.name, name) : null;
  if (kernel && supports(kernel, call)) return call.fused(kernel);
  return call.reference();
}

function supports<N extends FusedKernelName>(kernel: FusedKernel<N>, call: FusedCall<N, unknown>): boolean {
  const check = (kernel as { supports?: (b: Backend, ...args: readonly unknown[]) => boolean }).supports;
  if (!check) return true;
  return call.supports ? check(call.backend, ...call.supports) : false;
}
