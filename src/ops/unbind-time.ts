// The per-time-step views of a sequence that recurrent layers (nn/layers/rnn.ts) step through, as an
// op with its own backward: the forward hands out views, the backward gathers every step's gradient
// into one buffer.

import { noGrad } from '../autograd/grad-mode.js';
import type { Tensor } from '../tensor/tensor.js';
import { filled, record } from './make.js';
import { copyInto, narrow, reshape } from './view.js';

/**
 * x [T, ...] -> T tensors [...] (views of x). Unlike T narrow() calls, whose gradients are each a
 * full-size zero tensor with one slice filled, the gradient comes back as one [T, ...] tensor that
 * every step writes its slice into.
 */
export function unbindTime(x: Tensor): Tensor[] {
  const steps = x.shape[0]!;
  const rest = x.shape.slice(1);
  const pieces = noGrad(() => Array.from({ length: steps }, (_, t) => reshape(narrow(x, 0, t, 1), rest)));
  if (!x.requiresGrad || steps === 0) return pieces;
  let buf: Tensor | null = null;
  // a 0-d token that depends on x: every step depends on it, so its backward runs after all of theirs
  const token = record(filled(x.backend, [], x.dtype, 0), 'unbind_time', [x], () => {
    const g = buf ?? filled(x.backend, x.shape, x.dtype, 0);
    buf = null;
    return [g];
  });
  if (!token.requiresGrad) return pieces; // grad mode off
  return pieces.map((p, t) =>
    record(p, 'unbind_time_step', [token], (g) => {
      buf ??= filled(x.backend, x.shape, x.dtype, 0);
      copyInto(reshape(narrow(buf, 0, t, 1), rest), g);
      return [filled(x.backend, [], x.dtype, 0)];
    }),
  );
}
