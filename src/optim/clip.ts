// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_ (PyTorch 1.13).

import '../ops/tensor-methods.js';
import { DeviceError, ValueError, fmtShape } from '../errors.js';
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
 * gradient are skipped. `normType` may be Infinity (the largest absolute value). `params` may be
 * tensors or [name, tensor] pairs (`model.namedParameters()`); with `errorIfNonfinite`, a non-finite
 * total norm raises a ValueError naming the first parameter whose gradient's norm is non-finite (by
 * its name when given, else by its index and shape).
 */
export function clipGradNorm(
  params: Iterable<Tensor | readonly [string, Tensor]> | Tensor,
  maxNorm: number,
  normType = 2,
  opts: { errorIfNonfinite?: boolean } = {},
): Tensor {
  if (!(normType > 0)) throw new ValueError('clipGradNorm', `normType must be positive, got ${normType}`);
  const list = (params instanceof Tensor ? [params] : [...params]).map((p, i): [string, Tensor] =>
    p instanceof Tensor ? [`parameter ${i} ${fmtShape(p.shape)}`, p] : [`'${p[0]}' ${fmtShape(p[1].shape)}`, p[1]],
  );
  const withGrad = list.filter(([, p]) => p.grad);
  const grads = withGrad.map(([, p]) => p.grad!);
  if (grads.length === 0) return tensor(0, { device: list[0]?.[1].device });
  return scope(() =>
    noGrad(() => {
      const dtype = grads[0]!.dtype;
      const norms = stack(grads.map((g) => norm(g, normType).to(dtype)));
      const total = norm(norms, normType);
      if (opts.errorIfNonfinite && !total.backend.capabilities.syncRead) {
        throw new DeviceError(
          'clipGradNorm',
          `errorIfNonfinite reads the norm back, which ${total.device} cannot do synchronously; leave it off (a non-finite norm then makes the gradients NaN)`,
        );
      }
      const value = opts.errorIfNonfinite ? total.item() : 0;
      if (!Number.isFinite(value)) {
        // the norms were computed anyway: one more read says whose gradient it is
        const each = norms.dataSync();
        const i = each.findIndex((v) => !Number.isFinite(Number(v)));
        const whose = i >= 0 ? `; the first gradient whose norm is non-finite (${Number(each[i])}) is that of ${withGrad[i]![0]}` : '';
        throw new ValueError(
          'clipGradNorm',
          `the total norm of order ${normType} of the gradients is non-finite (${value}), so it cannot be clipped${whose}`,
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
