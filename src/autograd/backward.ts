// Reverse-mode differentiation over the recorded graph: order the nodes so each runs after every
// consumer of its output, push gradients from the root down, and accumulate them into the .grad of
// leaves that require grad. Intermediate gradients are freed as soon as they are consumed.

import { AutogradError, ShapeError, fmtShape } from '../errors.js';
import { endGeneration, keep, markUsed } from '../tensor/memory.js';
import { sameShape } from '../base/shape.js';
import type { Storage } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';
import { noGrad } from './grad-mode.js';
import { filled } from '../tensor/from-buffer.js';
import { checkForward, checkIncoming, checkOutgoing, isAnomalyEnabled } from './anomaly.js';

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // iterative post-order DFS: deep graphs (long RNN unrolls) must not overflow the JS stack
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t._node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next?.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

export function backward(root: Tensor, gradient: Tensor | undefined, retainGraph: boolean): void {
  if (!root.requiresGrad) {
    throw new AutogradError('backward', `tensor ${fmtShape(root.shape)} does not require grad and has no graph`);
  }
  let seed: Tensor;
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new AutogradError(
        'backward',
        `grad can be implicitly created only for one-element outputs; got shape ${fmtShape(root.shape)}: pass a gradient`,
      );
    }
    seed = filled(root.backend, root.shape, root.dtype, 1);
  } else {
    if (!sameShape(gradient.shape, root.shape)) {
      throw new ShapeError('backward', `gradient shape ${fmtShape(gradient.shape)} does not match output shape ${fmtShape(root.shape)}`);
    }
    seed = gradient;
  }
  const order = topoOrder(root);
  const anomaly = isAnomalyEnabled(); // anomaly mode: checks the loss and every gradient (anomaly.ts)
  markUsed(root);
  noGrad(() => {
    if (anomaly) checkForward(root, order);
    // Every value in `grads` is a handle owned by this function (a fresh tensor or an aliasing view),
    // so any of them can be disposed or handed to a leaf without touching another's memory.
    const grads = new Map<Tensor, Tensor>([[root, gradient ? seed.clone() : seed]]);
    const handedToLeaves = new Set<Storage>();
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const node = t._node;
      if (!node) {
        accumulate(t, g, handedToLeaves);
        continue;
      }
      if (t._retainGrad) accumulate(t, g.clone(), handedToLeaves);
      if (!node.backward) {
        g.dispose();
        throw new AutogradError(
          'backward',
          `trying to backward through the graph a second time (node '${node.name}'); pass retainGraph: true to the first backward()`,
        );
      }
      if (anomaly) checkIncoming(node, g, t === root);
      const inputGrads = node.backward(g);
      if (anomaly) checkOutgoing(node, inputGrads);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!input?.requiresGrad || !gi) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new AutogradError(
            'backward',
            `internal: '${node.name}' produced gradient ${fmtShape(gi.shape)} for input ${fmtShape(input.shape)}`,
          );
        }
        const prev = grads.get(input);
        if (prev) {
          grads.set(input, prev.add(gi));
          prev.dispose();
        } else {
          grads.set(input, gi.detach());
        }
      });
      for (const r of new Set(inputGrads)) if (r && r !== g) r.dispose();
      g.dispose();
      if (!retainGraph) {
        node.backward = null;
        node.saved = [];
      }
    }
  });
  // A completed backward() is the boundary every training loop has: temporaries made outside any
  // scope and unused since the previous one are freed (tensor/memory.ts, docs/memory.md).
  endGeneration();
}

/**
 * Adds g (a handle this takes over) into t.grad, kept alive outside any scope like parameter state.
 * A .grad owns its memory: one gradient tensor can reach two leaves (a.add(b) hands g to both), and
 * an in-place update of one .grad (zero_, clipping) must not change the other.
 */
function accumulate(t: Tensor, g: Tensor, handedToLeaves: Set<Storage>): void {
  markUsed(t); // a leaf that receives a gradient is in use (a weight made by hand, with no optimizer)
  let own = g;
  if (!g.isContiguous() || g.dtype !== t.dtype || g.strides.some((s) => s === 0) || handedToLeaves.has(g.storage)) {
    own = g.dtype !== t.dtype ? g.to(t.dtype) : g.clone();
    g.dispose();
  }
  if (t.grad) {
    const sum = t.grad.add(own);
    t.grad.dispose();
    own.dispose();
    t.grad = keep(sum);
  } else {
    t.grad = keep(own);
    handedToLeaves.add(own.storage);
  }
}
