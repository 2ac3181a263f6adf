// A Parameter is a tensor a Module owns and an optimizer updates: it requires grad and lives outside
// every scope (creating a layer inside mox.scope must not free its weights at the scope's end).

import { keep } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';

export class Parameter extends Tensor {
  /** Wraps `data`'s storage (no copy) as a parameter; `requiresGrad` defaults to true, as in PyTorch. */
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape, data.strides, data.offset);
    if (requiresGrad) this.requiresGrad = true;
    keep(this);
  }
}
