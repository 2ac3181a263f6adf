// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_ (PyTorch 1.13).

import '../ops/tensor-methods.js';
import { DeviceError, ValueError } from '../errors.js';
import { scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/create.js';
import { stack } from '../ops/join.js';

function norm(t: Tensor, p: number): Tensor {
  if (p === Infinity) return t.abs().max();
  if (p === 2) return t.square().sum().sqrt();
  if (p === 1) return t.abs().sum();
  return t
    .abs()
    .pow(p)
    .sum()
    .pow(1 / p);
}

/**
 * Scales the gradients of `params` in place so that their norm, taken together as one vector, is at
 * most `maxNorm`. Returns the total norm before clipping, as a scalar tensor. Parameters without a
 * gradient are skipped. `normType` may be Infinity (the largest absolute value).
 */
export function clipGradNorm(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  opts: { errorIfNonfinite?: boolean } = {},
): Tensor {
  if (!(normType > 0)) throw new ValueError('clipGradNorm', `normType must be positive, got ${normType}`);
  const list = params instanceof Tensor ? [params] : [...params];
  const grads = list.flatMap((p) => (p.grad ? [p.grad] : []));
  if (grads.length === 0) return tensor(0, { device: list[0]?.device });
  return scope(() =>
    noGrad(() => {
      const dtype = grads[0]!.dtype;
      const total = norm(stack(grads.map((g) => norm(g, normType).to(dtype))), normType);
      if (opts.errorIfNonfinite && !total.backend.capabilities.syncRead) {
        throw new DeviceError(
          'clipGradNorm',
          `errorIfNonfinite reads the norm back, which ${total.device} cannot do synchronously; leave it off (a non-finite norm then makes the gradients NaN)`,
        );
      }
      if (opts.errorIfNonfinite && !Number.isFinite(total.item())) {
        throw new ValueError(
          'clipGradNorm',
          `the total norm of order ${normType} of the gradients is non-finite (${total.item()}), so it cannot be clipped`,
        );
      }
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1);
      for (const g of grads) g.copy_(g.mul(coef));
      return total;
    }),
  );
}

/**
 * Keras's max_norm constraint (Srivastava et al.'s max-norm regularisation; Kim 2014's l2 cap) on a
 * weight, in place: the L2 norms are taken over `axis` (Keras's meaning), and every vector whose norm
 * exceeds `maxValue` is rescaled to norm `maxValue`; the others are left as they are. For a Linear
 * weight [out, in], axis 1 caps each output unit's incoming weights (Keras's Dense kernel is
 * [in, out], hence its axis 0). Keras's arithmetic: w * clip(n, 0, maxValue) / (n + 1e-7). Returns `t`.
 */
export function maxNorm_(t: Tensor, maxValue: number, axis: number | readonly number[]): Tensor {
  if (!(maxValue > 0)) throw new ValueError('maxNorm_', `maxValue must be positive, got ${maxValue}`);
  scope(() =>
    noGrad(() => {
      const n = t.square().sum(axis, true).sqrt();
      t.copy_(t.mul(n.clamp(null, maxValue).div(n.add(1e-7))));
    }),
  );
  return t;
}
