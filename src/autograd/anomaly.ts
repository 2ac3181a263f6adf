// Anomaly mode, as PyTorch's torch.autograd.detect_anomaly / set_detect_anomaly: while it is on,
// record() keeps a short stack of where each op was created, and backward() checks the loss, the
// gradient flowing into each node and the gradients each node returns, raising an AnomalyError that
// names the first op whose value or gradient is NaN or infinite, the input it was for, and where the
// op was recorded. Off, the engine pays one boolean check per node and record() one per op.
//
// The checks read values back, so they need a device that reads synchronously (the CPU); they are a
// debugging aid: each one is a reduction and a one-number read per tensor.

import { AnomalyError, DeviceError, fmtShape } from '../errors.js';
import { isFloat } from '../base/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Node } from './node.js';

let enabled = false;

/** Whether anomaly mode is on (PyTorch's torch.is_anomaly_enabled). */
export function isAnomalyEnabled(): boolean {
  return enabled;
}

/** Turns anomaly mode on or off for everything that follows (PyTorch's set_detect_anomaly). */
export function setDetectAnomaly(on: boolean): void {
  enabled = Boolean(on);
}

/**
 * Runs fn with anomaly mode on and restores the previous mode afterwards (when the promise settles,
 * for an async fn): PyTorch's `with torch.autograd.detect_anomaly():`. The mode is global, so other
 * work that runs while an async fn awaits is checked too.
 */
export function detectAnomaly<T>(fn: () => T): T {
  const prev = enabled;
  enabled = true;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    enabled = prev;
    throw e;
  }
  if (result instanceof Promise) {
    return result.finally(() => {
      enabled = prev;
    }) as T;
  }
  enabled = prev;
  return result;
}

// Frames inside the op machinery (ops/, autograd/, tensor/) say nothing about the user's program:
// the trace starts at the first frame outside them (a layer of nn/, a model, the user's code).
const SRC = new URL('../', import.meta.url).href;
const CORE = ['ops/', 'autograd/', 'tensor/'].map((d) => SRC + d);
const FRAMES = 8;

/** An Error whose stack is where the op being recorded was called; formatted only if it is reported. */
export function captureTrace(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const e = new Error('recorded');
  Error.stackTraceLimit = limit;
  return e;
}

/** The first frames of a trace outside mox's core, one per line, without the leading "at". */
export function formatTrace(trace: Error | undefined): string {
  const lines = (trace?.stack ?? '').split('\n').slice(1);
  const user = lines.map((l) => l.trim()).filter((l) => l.startsWith('at '));
  const first = user.findIndex((l) => !CORE.some((c) => l.includes(c)));
  return first < 0
    ? ''
    : user
        .slice(first, first + FRAMES)
        .map((l) => l.slice(3))
        .join('\n');
}

/** The first line of a node's trace, for a message: ' (recorded at file.js:12:5)', or ''. */
function recordedAt(node: Node): string {
  const where = formatTrace(node.trace).split('\n')[0];
  return where ? ` (recorded at ${where})` : '';
}

/**
 * null when every element of t is finite, else what is wrong: 'NaN in 1 of 3 elements, the first at
 * index 2'. One reduction and a one-number read; the elements are read only when something is wrong.
 */
export function nonFinite(t: Tensor): string | null {
  if (!t.backend.capabilities.syncRead) {
    throw new DeviceError(
      'detectAnomaly',
      `anomaly mode reads values back, which ${t.device} cannot do synchronously: run the failing step on the CPU to find the op`,
    );
  }
  // x * 0 is 0 for a finite x and NaN for NaN or +-Inf, so the sum is NaN exactly when one is non-finite
  const zeros = t.mul(0);
  const flag = zeros.sum();
  const v = flag.item();
  zeros.dispose();
  flag.dispose();
  if (Number.isFinite(v)) return null;
  const data = t.dataSync();
  let nan = 0;
  let inf = 0;
  let first = -1;
  for (let i = 0; i < data.length; i++) {
    const x = Number(data[i]);
    if (Number.isFinite(x)) continue;
    if (first < 0) first = i;
    if (Number.isNaN(x)) nan++;
    else inf++;
  }
  const kind = nan && inf ? 'NaN and Inf' : nan ? 'NaN' : 'Inf';
  return `${kind} in ${nan + inf} of ${data.length} elements, the first at index ${first}`;
}

function describe(t: Tensor): string {
  return t._node ? `the output of '${t._node.name}', ${fmtShape(t.shape)}` : `a leaf, ${fmtShape(t.shape)}`;
}

/**
 * The forward check: when the loss (root) is not finite, finds the first op, in the order they ran,
 * whose output is non-finite although its inputs are finite, and raises naming it. `order` is the
 * backward order (consumers first), so it is walked from the end.
 */
export function checkForward(root: Tensor, order: readonly Tensor[]): void {
  const bad = nonFinite(root);
  if (!bad) return;
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k]!;
    const node = t._node;
    if (!node || t.isDisposed) continue;
    const out = nonFinite(t);
    if (!out) continue;
    node.inputs.forEach((input, i) => {
      if (!input || input.isDisposed || !isFloat(input.dtype)) return; // indices, masks: always finite
      const inBad = nonFinite(input);
      if (inBad) {
        throw new AnomalyError(
          `the loss is non-finite (${bad}): input ${i} of '${node.name}'${recordedAt(node)} (${describe(input)}) already holds ${inBad}`,
          node.name,
          'forward',
          i,
          formatTrace(node.trace),
        );
      }
    });
    throw new AnomalyError(
      `the loss is non-finite (${bad}): '${node.name}'${recordedAt(node)} computed ${out} ${fmtShape(t.shape)} from finite inputs`,
      node.name,
      'forward',
      null,
      formatTrace(node.trace),
    );
  }
  throw new AnomalyError(`the loss is non-finite (${bad})`, root._node?.name ?? 'loss', 'forward', null, formatTrace(root._node?.trace));
}

/**
 * The gradient flowing into node's output: non-finite there although every gradient that went into
 * it was checked means the sum of its consumers' gradients overflowed (or the seed passed to
 * backward() was bad).
 */
export function checkIncoming(node: Node, g: Tensor, isRoot: boolean): void {
  const bad = nonFinite(g);
  if (!bad) return;
  const why = isRoot ? 'the gradient passed to backward() holds' : "the sum of its consumers' gradients holds";
  throw new AnomalyError(
    `the gradient flowing into '${node.name}'${recordedAt(node)} is non-finite: ${why} ${bad}`,
    node.name,
    'backward',
    null,
    formatTrace(node.trace),
  );
}

/** The gradients node's backward returned, one per input (null where none is needed). */
export function checkOutgoing(node: Node, grads: readonly (Tensor | null)[]): void {
  grads.forEach((gi, i) => {
    const input = node.inputs[i];
    if (!gi || !input?.requiresGrad) return;
    const bad = nonFinite(gi);
    if (!bad) return;
    throw new AnomalyError(
      `backward of '${node.name}'${recordedAt(node)} returned ${bad} in its gradient for input ${i} (${describe(input)})`,
      node.name,
      'backward',
      i,
      formatTrace(node.trace),
    );
  });
}
