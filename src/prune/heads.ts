// Structured pruning of a GPT's attention heads, as Hugging Face's PreTrainedModel.prune_heads: whole
// heads leave a block's attention (their query, key and value rows of c_attn and their input columns of
// c_proj), physically, so the block computes fewer heads of the same head size. The removed heads are
// remembered per layer in the unpruned numbering in the model's config (`prunedHeads`, HF's
// config.pruned_heads), which checkpoints carry, so a loader builds the smaller layers before it reads
// the weights. pruneAttentionHeads chooses the heads by a weight-norm score (headScores).

import { QuantizedEmbedding, QuantizedLinear } from '../quant/layers.js';
import '../ops/tensor-methods.js';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { scope } from '../tensor/memory.js';
import { noGrad } from '../autograd/grad-mode.js';
import { GPT } from '../models/gpt.js';
import { checkHeads } from '../nn/layers/transformer.js';
import { Linear } from '../nn/layers/linear.js';
import { entriesToPrune, isPruned, type PruneAmount } from './unstructured.js';

/** Heads per layer: `{ [layer]: [head, ...] }`, heads numbered as in the unpruned model. */
export type HeadsToPrune = Record<number, readonly number[]>;

function checkGPT(op: string, model: GPT): void {
  if (!(model instanceof GPT))
    throw new ValueError(op, `takes a GPT (mox.models.GPT), got ${(model as { name?: string })?.name ?? String(model)}`);
  const q = model.modules().find((m) => m instanceof QuantizedLinear || m instanceof QuantizedEmbedding) as QuantizedLinear | undefined;
  if (q) throw new ValueError(op, `the GPT is quantized (${q.scheme}): prune the float model, then quantize it`);
}

/**
 * Removes attention heads from a GPT: `heads` maps a layer to the heads to remove there, numbered as in
 * the unpruned model (as Hugging Face's prune_heads). Heads already removed are skipped (pruning a head
 * twice does nothing). Everything is checked before anything changes: a layer or head out of range, a
 * layer that would lose all its heads, or a layer whose attention carries a pruning mask is a
 * ValueError. The model's config.prunedHeads gets the union. Returns the heads this call removed, per
 * layer. New Parameters replace the old (which are disposed): make a new optimizer before training.
 */
export function pruneHeads(model: GPT, heads: HeadsToPrune): Record<number, number[]> {
  const op = 'pruneHeads';
  checkGPT(op, model);
  if (typeof heads !== 'object' || heads === null || Array.isArray(heads))
    throw new ValueError(op, `heads must map layers to lists of heads ({ 0: [1, 2] }), got ${JSON.stringify(heads)}`);
  const blocks = model.transformer.h;
  const plan: [number, number[]][] = [];
  for (const [k, list] of Object.entries(heads)) {
    const layer = Number(k);
    if (!/^\d+$/.test(k) || layer >= blocks.length)
      throw new ValueError(op, `layer ${k} is out of range: the model has layers 0..${blocks.length - 1}`);
    if (!Array.isArray(list)) throw new ValueError(op, `the heads of layer ${k} must be a list, got ${JSON.stringify(list)}`);
    const attn = blocks[layer]!.attn;
    if (isPruned(attn)) throw new ValueError(op, `layer ${layer}'s attention carries a pruning mask: call prune.removePruning first`);
    if (attn.c_attn.constructor !== Linear || attn.c_proj.constructor !== Linear)
      throw new ValueError(
        op,
        `layer ${layer}'s attention has ${attn.c_attn.name} and ${attn.c_proj.name} layers, not plain Linear ones: merge and unload the adapters first (lora.mergeAndUnload)`,
      );
    const original = attn.nHead + attn.prunedHeads.length;
    plan.push([layer, checkHeads(`${op} (layer ${layer})`, list, original, attn.prunedHeads)]);
  }
  const removed: Record<number, number[]> = {};
  for (const [layer, fresh] of plan.sort((a, b) => a[0] - b[0])) {
    if (fresh.length === 0) continue;
    const attn = blocks[layer]!.attn;
    attn.pruneHeads(fresh);
    removed[layer] = fresh;
  }
  const all: Record<number, number[]> = {};
  blocks.forEach((b, i) => {
    if (b.attn.prunedHeads.length) all[i] = [...b.attn.prunedHeads];
  });
  if (Object.keys(all).length) model.config.prunedHeads = all;
  else delete model.config.prunedHeads;
  return removed;
}

/** One head's score (see headScores). */
export interface HeadScore {
  /** The layer (block) index. */
  layer: number;
  /** The head's number in the unpruned model. */
  head: number;
  /** The head's importance: the norm of its weights. */
  score: number;
}

/** Options of headScores: the norm. */
export interface HeadScoreOptions {
  /** The norm of the weights: 1 or 2 (Frobenius, the default). */
  norm?: 1 | 2;
}

function hostData(op: string, t: Tensor): Float32Array | Float64Array {
  if (!t.backend.capabilities.syncRead)
    throw new ValueError(op, `head scores read weights on the host: prune the model on the CPU (this one is on '${t.device}')`);
  return t.contiguous().dataSync() as Float32Array | Float64Array;
}

/**
 * A score per remaining head from the weights alone: ||W_V,h|| * ||W_O,h||, the norm (L2, Frobenius, by
 * default; or L1) of the head's value rows of c_attn times the norm of its input columns of c_proj.
 * What a head adds to the residual stream is W_O,h (sum_j a_j W_V,h x_j + b_V,h) with attention weights
 * a_j >= 0 that sum to 1, so its size is bounded by ||W_O,h|| ||W_V,h|| max_j ||x_j|| (plus the bias
 * term), whatever the queries and keys do: they only choose where the head looks. It ranks the heads of
 * one layer; across layers it misleads (on the Tiny Shakespeare GPT the first layer's heads have the
 * lowest scores and are the ones the loss needs most, docs/pruning.md), so pruneAttentionHeads uses it
 * per layer unless told otherwise; headImportance measures instead. Heads in layer order, then head order.
 */
export function headScores(model: GPT, opts: HeadScoreOptions = {}): HeadScore[] {
  const op = 'headScores';
  checkGPT(op, model);
  const norm = opts.norm ?? 2;
  if (norm !== 1 && norm !== 2) throw new ValueError(op, `norm must be 1 or 2, got ${String(norm)}`);
  const out: HeadScore[] = [];
  model.transformer.h.forEach((block, layer) => {
    const attn = block.attn;
    const c = attn.nEmbd;
    const hd = attn.headDim;
    const inner = attn.innerDim;
    const wa = hostData(op, attn.c_attn.weight); // [3 * inner, c]
    const wp = hostData(op, attn.c_proj.weight); // [c, inner]
    const acc = (s: number, v: number) => s + (norm === 1 ? Math.abs(v) : v * v);
    const fin = (s: number) => (norm === 1 ? s : Math.sqrt(s));
    let pos = 0;
    for (let h = 0; h < attn.nHead + attn.prunedHeads.length; h++) {
      if (attn.prunedHeads.includes(h)) continue;
      let v = 0;
      for (let r = 2 * inner + pos * hd; r < 2 * inner + (pos + 1) * hd; r++) for (let j = 0; j < c; j++) v = acc(v, wa[r * c + j]!);
      let o = 0;
      for (let r = 0; r < c; r++) for (let j = pos * hd; j < (pos + 1) * hd; j++) o = acc(o, wp[r * inner + j]!);
      out.push({ layer, head: h, score: fin(v) * fin(o) });
      pos++;
    }
  });
  return out;
}

/** A batch for headImportance: token ids [B, T] (int32) and the next tokens [B, T] (targets, -1 ignored). */
export type HeadImportanceBatch = readonly [inputs: Tensor, targets: Tensor];

/**
 * A score per remaining head from data: how much the model's loss on `batches` rises when the head is
 * removed alone (its c_proj columns zeroed, which computes exactly what removing it does), averaged
 * over the batches; negative where removing it helps. This is the ablation that Michel et al. (2019,
 * "Are Sixteen Heads Really Better than One?") estimate to first order by the gradient of a head mask
 * (transformers' bertology example); with the model's own loss measured, no estimate is needed, at the
 * price of one forward pass per head and batch. The model runs in eval mode (restored after), without
 * gradients, on the CPU or any device that reads values synchronously. Heads in layer order, then head
 * order.
 */
export function headImportance(model: GPT, batches: readonly HeadImportanceBatch[]): HeadScore[] {
  const op = 'headImportance';
  checkGPT(op, model);
  if (!Array.isArray(batches) || batches.length === 0) throw new ValueError(op, 'needs at least one [inputs, targets] batch');
  const w0 = model.transformer.ln_f.weight ?? model.transformer.h[0]!.attn.c_attn.weight;
  if (!w0.backend.capabilities.syncRead)
    throw new ValueError(op, `head importance reads losses on the host: score the model on the CPU (this one is on '${w0.device}')`);
  const wasTraining = model.training;
  model.eval();
  const meanLoss = (): number => {
    let sum = 0;
    for (const [x, y] of batches) sum += scope(() => noGrad(() => model.forward(x, y).loss!.item()));
    return sum / batches.length;
  };
  try {
    const base = meanLoss();
    const out: HeadScore[] = [];
    model.transformer.h.forEach((block, layer) => {
      const attn = block.attn;
      const w = attn.c_proj.weight; // [c, inner]
      const hd = attn.headDim;
      let pos = 0;
      for (let h = 0; h < attn.nHead + attn.prunedHeads.length; h++) {
        if (attn.prunedHeads.includes(h)) continue;
        const keep = new Float32Array(attn.innerDim).fill(1);
        keep.fill(0, pos * hd, (pos + 1) * hd);
        const saved = noGrad(() => w.clone());
        try {
          scope(() => noGrad(() => w.copy_(w.mul(tensor(keep, { shape: [1, keep.length], dtype: w.dtype, device: w.device })))));
          out.push({ layer, head: h, score: meanLoss() - base });
        } finally {
          noGrad(() => w.copy_(saved));
          saved.dispose();
        }
        pos++;
      }
    });
    return out;
  } finally {
    model.train(wasTraining);
  }
}

export interface AttentionHeadPruningOptions extends PruneAmount, HeadScoreOptions {
  /**
   * The scores that rank the heads (lowest go first): headImportance's from data, or any; default
   * headScores(model, { norm }), from the weights alone.
   */
  scores?: readonly HeadScore[];
  /**
   * true: the heads compete across all layers, and the lowest `amount` of all remaining heads go, except
   * that a layer always keeps its last head; false: `amount` of each layer's remaining heads. Default:
   * true with `scores` (a loss is comparable across layers), false with the weight norms (they are not).
   */
  global?: boolean;
}

/** What pruneAttentionHeads did. */
export interface AttentionHeadPruningReport {
  /** The heads removed by this call, per layer (unpruned numbering). */
  pruned: Record<number, number[]>;
  /** The scores of the heads that were there before the call. */
  scores: HeadScore[];
  /** Heads over all layers before and after. */
  before: number;
  /** Heads over all layers after. */
  after: number;
}

/** Given scores must name each remaining head once, and nothing else. */
function checkScores(op: string, model: GPT, scores: readonly HeadScore[]): HeadScore[] {
  const want = new Set<string>();
  model.transformer.h.forEach((b, l) => {
    for (let h = 0; h < b.attn.nHead + b.attn.prunedHeads.length; h++) if (!b.attn.prunedHeads.includes(h)) want.add(`${l}.${h}`);
  });
  const seen = new Set<string>();
  for (const s of scores) {
    const k = `${s.layer}.${s.head}`;
    if (!want.has(k) || seen.has(k) || !Number.isFinite(s.score))
      throw new ValueError(
        op,
        `scores: layer ${s.layer} head ${s.head} (score ${s.score}) is not a remaining head of the model, is repeated, or is not finite`,
      );
    seen.add(k);
  }
  if (seen.size !== want.size)
    throw new ValueError(op, `scores name ${seen.size} heads, the model has ${want.size}: give one per remaining head`);
  return [...scores];
}

/**
 * Removes the attention heads of lowest score (opts.scores, e.g. headImportance's from data; by default
 * headScores: ||W_V,h|| * ||W_O,h||) from a GPT, `amount`
 * of them (a fraction of the remaining heads, or `count`, as the other pruning functions), globally
 * across layers or per layer (see `global`), then calls pruneHeads. Ties go to the lower layer, then head.
 */
export function pruneAttentionHeads(model: GPT, opts: AttentionHeadPruningOptions): AttentionHeadPruningReport {
  const op = 'pruneAttentionHeads';
  checkGPT(op, model);
  const scores = opts.scores ? checkScores(op, model, opts.scores) : headScores(model, opts);
  const nLayer = model.transformer.h.length;
  const left = Array.from({ length: nLayer }, (_, l) => scores.filter((s) => s.layer === l).length);
  const byScore = (a: HeadScore, b: HeadScore) => a.score - b.score || a.layer - b.layer || a.head - b.head;
  const plan: Record<number, number[]> = {};
  const add = (s: HeadScore) => {
    plan[s.layer] ??= [];
    plan[s.layer]!.push(s.head);
  };
  if (opts.global ?? opts.scores !== undefined) {
    const k = entriesToPrune(op, opts, scores.length);
    if (k > scores.length - nLayer)
      throw new ValueError(
        op,
        `cannot remove ${k} of the ${scores.length} remaining heads: each of the ${nLayer} layers keeps at least one (at most ${scores.length - nLayer})`,
      );
    let taken = 0;
    for (const s of [...scores].sort(byScore)) {
      if (taken === k) break;
      if (left[s.layer]! <= 1) continue; // a layer keeps its last head
      add(s);
      left[s.layer]!--;
      taken++;
    }
  } else {
    for (let l = 0; l < nLayer; l++) {
      const mine = scores.filter((s) => s.layer === l);
      const k = entriesToPrune(`${op} (layer ${l})`, opts, mine.length);
      if (k >= mine.length) throw new ValueError(op, `cannot remove all ${mine.length} remaining heads of layer ${l}; keep at least one`);
      for (const s of mine.sort(byScore).slice(0, k)) add(s);
    }
  }
  const pruned = pruneHeads(model, plan);
  return { pruned, scores, before: scores.length, after: scores.length - Object.values(pruned).reduce((n, h) => n + h.length, 0) };
}
