// One decoding step for several sequences at once, each at its own position with its own key/value
// cache: continuous batching's step. The matrix products (the q/k/v projection, the attention output
// projection, the MLP, the head) run once for the whole batch, so each weight is read once per step
// however many sequences share it, which is what makes batch-1 decoding memory-bound and batching
// pay; attention runs per sequence, over that sequence's own cache.

import '../ops/tensor-methods.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { concat } from '../ops/join.js';
import { reshape, transpose } from '../ops/view.js';
import { scaledDotProductAttention } from '../ops/attention.js';
import { type GPT, GPTCache } from '../models/gpt.js';

/**
 * Feeds token `tokens[j]` to sequence j (whose cache holds its positions so far) and returns the next
 * token's logits for each, [n, V]; every cache grows by one position. Equal, up to float rounding, to
 * running each sequence alone with `model.forward(ids, null, { cache, lastOnly: true })`.
 */
export function batchedDecodeStep(model: GPT, tokens: readonly number[], caches: readonly GPTCache[]): Tensor {
  const n = tokens.length;
  const tr = model.transformer;
  const device = tr.ln_f.weight?.device ?? 'cpu';
  const ids = tensor(Int32Array.from(tokens), { shape: [n, 1], dtype: 'int32', device });
  const pos = tensor(Int32Array.from(caches.map((c) => c.length)), { shape: [n, 1], dtype: 'int32', device });
  let x = tr.wte.forward(ids).add(tr.wpe.forward(pos)); // [n, 1, C]
  tr.h.forEach((block, i) => {
    const attn = block.attn;
    const hd = attn.headDim;
    const inner = attn.innerDim;
    const [q0, k0, v0] = attn.c_attn.forward(block.ln_1.forward(x)).split(inner, 2) as [Tensor, Tensor, Tensor];
    // [n, 1, inner] -> [n, heads, 1, hd] once for the batch; each sequence takes its row (a view)
    const heads = (z: Tensor): Tensor => transpose(reshape(z, [n, 1, attn.nHead, hd]), 1, 2);
    const [q, k, v] = [heads(q0), heads(k0), heads(v0)];
    const ys: Tensor[] = [];
    for (let j = 0; j < n; j++) {
      const [kj, vj] = caches[j]!.layers[i]!.append(k.narrow(0, j, 1), v.narrow(0, j, 1));
      // one new query sees every cached position: no mask
      ys.push(scaledDotProductAttention(q.narrow(0, j, 1), kj, vj));
    }
    const y = reshape(transpose(n === 1 ? ys[0]! : concat(ys, 0), 1, 2), [n, 1, inner]);
    x = x.add(attn.c_proj.forward(y));
    x = x.add(block.mlp.forward(block.ln_2.forward(x)));
  });
  return reshape(model.lm_head.forward(tr.ln_f.forward(x)), [n, model.config.vocabSize]);
}

/** Runs a prompt into a fresh cache and returns the cache and the last position's logits [V]. */
export function prefill(model: GPT, prompt: readonly number[]): { cache: GPTCache; logits: Tensor } {
  const cache = new GPTCache(model.config.nLayer);
  const device = model.transformer.ln_f.weight?.device ?? 'cpu';
  const idx = tensor(Int32Array.from(prompt), { shape: [1, prompt.length], dtype: 'int32', device });
  const { logits } = model.forward(idx, null, { cache, lastOnly: true });
  return { cache, logits: reshape(logits, [model.config.vocabSize]) };
}
