// One recorded operation in the autograd graph. `backward` maps the gradient of the output to the
// gradients of `inputs` (null where an input needs none), using ordinary ops under noGrad.
// `saved` lists tensors the backward reads besides the inputs, so scope() keeps them alive.

import type { Tensor } from '../tensor/tensor.js';

export interface Node {
  readonly name: string;
  readonly inputs: readonly (Tensor | null)[];
  saved: Tensor[];
  backward: ((g: Tensor) => (Tensor | null)[]) | null; // null once freed after backward
}
