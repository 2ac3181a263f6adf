// Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so
// evaluation needs no rescaling. The mask comes from the seeded generator.

import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { rand } from '../tensor/create.js';
import type { Generator } from '../tensor/random.js';
import { where } from './binary.js';

/** Zeroes each element with probability p and scales the rest by 1/(1-p) when training; identity otherwise. */
export function dropout(x: Tensor, p = 0.5, training = true, generator?: Generator): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError('dropout', `probability must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  if (p === 1) return x.mul(0);
  const keepMask = rand(x.shape, { device: x.device, generator }).ge(p);
  return where(keepMask, x.mul(1 / (1 - p)), 0);
}
