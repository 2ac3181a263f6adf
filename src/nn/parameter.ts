// A Parameter is a tensor a Module owns and an optimizer updates: it requires grad and lives outside
// every scope (creating a layer inside mox.scope must not free its weights at the scope's end).

import '../ops/tensor-methods.js';
import { keep } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { zeros, type CreateOptions } from '../tensor/create.js';

/** A tensor that a Module owns and an optimizer updates: requires grad, never freed by a scope. */
export class Parameter extends Tensor {
  /** Wraps `data`'s storage (no copy) as a parameter; `requiresGrad` defaults to true, as in PyTorch. */
  constructor(data: Tensor, requiresGrad = true) {
    super(data.storage, data.shape, data.strides, data.offset);
    if (requiresGrad) this.requiresGrad = true;
    keep(this);
  }

  /** A zero-filled parameter of the given shape, for a layer to initialise (the temporary is freed). */
  static zeros(shape: readonly number[], opts: Pick<CreateOptions, 'dtype' | 'device'> = {}): Parameter {
    const t = zeros(shape, opts);
    const p = new Parameter(t);
    t.dispose();
    return p;
  }
}
