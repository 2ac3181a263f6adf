// Which tensor of a model's forward() the loss, the metrics and predict read. A model may return a
// tensor, or an object of named outputs as Hugging Face models do (`{ logits, state }` from the LSTM
// language model, `{ logits, loss }` from the GPT): then the entry named by compile's `output`
// option is used, 'logits' by default (transformers' ModelOutput.logits). The rest of the object
// (a recurrent state, an internal loss) is left to the model; fit starts every batch afresh, as a
// Keras RNN that is not stateful.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

const DEFAULT_OUTPUT = 'logits';

/** The output key compile() set for each model (default 'logits'). */
const outputKeys = new WeakMap<Module, string>();

/** Records compile's `output` option for the model. */
export function setOutputKey(model: Module, key: string | undefined): void {
  if (key === undefined) {
    outputKeys.delete(model);
    return;
  }
  if (typeof key !== 'string' || key === '')
    throw new ValueError('compile', `output must be the name of one of the model's outputs, got ${JSON.stringify(key)}`);
  outputKeys.set(model, key);
}

/** The tensor of `out` (what model.forward returned) that the loss reads. */
export function modelOutput(op: string, model: Module, out: unknown): Tensor {
  if (out instanceof Tensor) return out;
  const key = outputKeys.get(model) ?? DEFAULT_OUTPUT;
  if (typeof out === 'object' && out !== null && !Array.isArray(out)) {
    const picked = (out as Record<string, unknown>)[key];
    if (picked instanceof Tensor) return picked;
    const tensors = Object.keys(out).filter((k) => (out as Record<string, unknown>)[k] instanceof Tensor);
    throw new ValueError(
      op,
      `the model's forward() returned an object whose '${key}' is ${picked === undefined ? 'missing' : `not a Tensor (${typeof picked})`}; ` +
        `its tensors are ${tensors.length ? tensors.map((k) => `'${k}'`).join(', ') : 'none'}: name the one the loss reads with compile({ output: '...' })`,
    );
  }
  throw new ValueError(
    op,
    `the model's forward() must return a Tensor or an object of tensors (e.g. { logits }), got ${Array.isArray(out) ? 'an array' : out === null ? 'null' : typeof out}`,
  );
}
