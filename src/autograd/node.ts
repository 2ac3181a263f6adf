// One recorded operation in the autograd graph. `backward` maps the gradient of the output to the
// gradients of `inputs` (null where an input needs none), using ordinary ops under noGrad.
// `saved` lists tensors the backward reads besides the inputs, so scope() keeps them alive.
// The shape itself lives in tensor/graph-node.ts, below the Tensor class that holds one.

import type { GraphNode } from '../tensor/graph-node.js';
import type { Tensor } from '../tensor/tensor.js';

export type Node = GraphNode<Tensor>;
