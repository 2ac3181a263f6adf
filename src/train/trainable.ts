// Keeping a compiled model's optimizer in step with `trainable` / requiresGrad_ changed after compile().
// Keras reads `trainable` when compile() runs and needs compile() again after a change (its transfer
// learning guide says so); a forgotten compile() then trains the wrong weights without a word. mox
// checks at the start of every fit() instead, and either follows the change or says what is wrong.

import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import { pin } from '../tensor/memory.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { Compiled } from './step.js';

/** The model's parameters that require grad now, in namedParameters() order. */
export function trainableParameters(model: Module): [string, Tensor][] {
  return model.namedParameters().filter(([, p]) => p.requiresGrad);
}

const listNames = (names: string[]): string =>
  names
    .slice(0, 5)
    .map((k) => `'${k}'`)
    .join(', ') + (names.length > 5 ? `, ... (${names.length} in all)` : '');

/**
 * Run at the start of fit(). When the model's trainable parameters differ from those at compile():
 *
 * - an optimizer compile() made from a name ('adam', ...) gets exactly the trainable parameters now, in
 *   the model's order, in its one group. It stays the same object (a scheduler holding it still works);
 *   the parameters it already had keep their state (moments, step counts); a parameter now frozen
 *   leaves the group, its gradient is freed, and its state is kept for when it is unfrozen (PyTorch
 *   keeps a frozen parameter's state too).
 * - an Optimizer given to compile() is the user's: a parameter that became trainable and that it does
 *   not hold is a ValueError naming it (it would get gradients and never move); a parameter that became
 *   frozen simply gets no gradient, so the optimizer skips it.
 *
 * Every parameter frozen is a ValueError either way.
 */
export function syncTrainable(model: Module, c: Compiled): void {
  const now = trainableParameters(model);
  if (now.length === 0) throw new ValueError('fit', 'the model has no trainable parameters (every parameter is frozen)');
  const nowSet = new Set(now.map(([, p]) => p));
  if (nowSet.size === c.trainable.size && [...nowSet].every((p) => c.trainable.has(p))) return;
  const groups = c.optimizer.paramGroups;
  const held = new Set(groups.flatMap((g) => g.params));
  if (c.namedOptimizer && groups.length === 1) {
    const group = groups[0]!;
    const inModel = new Set(model.parameters() as Tensor[]);
    const dropped = group.params.filter((p) => inModel.has(p) && !nowSet.has(p));
    // parameters someone added to the group by hand, not the model's, stay
    const next = [...now.map(([, p]) => p), ...group.params.filter((p) => !inModel.has(p))];
    for (const p of next) if (!held.has(p)) pin(p);
    group.params.splice(0, group.params.length, ...next);
    for (const p of dropped) {
      p.grad?.dispose();
      p.grad = null;
    }
  } else {
    const missing = now.filter(([, p]) => !held.has(p) && !c.trainable.has(p)).map(([k]) => k);
    if (missing.length > 0) {
      throw new ValueError(
        'fit',
        `${missing.length} parameter${missing.length > 1 ? 's' : ''} became trainable after compile() but ${missing.length > 1 ? 'are' : 'is'} not in ` +
          `the optimizer given to it: ${listNames(missing)}; they would get gradients and never change. Call compile() again ` +
          "with an optimizer over them (or a name such as 'adam', which fit keeps in step), or add them with optimizer.addParamGroup",
      );
    }
  }
  c.trainable = nowSet;
}
