// The shape rule every backend's fused attention kernel shares: q [..., Lq, E], k [..., Lk, E] and
// v [..., Lk, Ev] of one rank with equal leading (batch) shapes; the op layer expands broadcast
// inputs before it calls a kernel. Each backend adds its own size limits on top.

import { sameShape } from '../base/shape.js';

/** Why q, k and v do not fit together for a fused attention kernel, or null when they do. */
export function attentionShapeProblem(q: readonly number[], k: readonly number[], v: readonly number[]): string | null {
  if (q.length < 2 || q.length !== k.length || q.length !== v.length) return 'q, k and v need one rank of at least 2';
  const lead = q.slice(0, -2);
  if (!sameShape(lead, k.slice(0, -2)) || !sameShape(lead, v.slice(0, -2))) return 'the leading (batch) shapes differ';
  if (k[k.length - 1] !== q[q.length - 1] || v[v.length - 2] !== k[k.length - 2])
    return 'the head size of q and k or the length of k and v differ';
  return null;
}
