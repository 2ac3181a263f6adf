// Whether ops record the graph. noGrad(fn) turns recording off for fn (evaluation, optimizer
// updates, and every backward computation, which uses ordinary ops on gradients).

let enabled = true;

/** Whether ops record the autograd graph now (false inside noGrad), like torch.is_grad_enabled. */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs fn without recording the graph, like torch.no_grad: for inference and in-place updates. */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Runs fn with the graph recorded, even inside noGrad, like torch.enable_grad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = true;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}
