// Every case PyTorch computed in ../shared/golden (or $MOX_GOLDEN_DIR): run the op in mox, feed the
// stored upstream gradient into backward, and compare outputs and gradients at the case's tolerance.
// Prints `golden: P passed, F failed, N not covered` and fails on any failure.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as mox from '../src/index.js';
import { loadSafetensorsSync } from '../src/io/safetensors.js';
import type { Tensor } from '../src/index.js';

const F = mox.nn.functional;
const dir = process.env.MOX_GOLDEN_DIR ?? path.resolve(process.cwd(), '../shared/golden');

interface Case {
  file: string;
  op: string;
  args: Record<string, any>;
  rtol: number;
  atol: number;
  grads: string[];
}

/** Cases no runner takes on yet (none now). */
const NOT_COVERED = new Set<string>([]);

// `all` is every tensor in the case file (the optimizer cases read their per-step gradients from it)
type Runner = (
  ins: Tensor[],
  params: Record<string, Tensor>,
  a: Record<string, any>,
  all: Record<string, Tensor>,
) => Record<string, Tensor>;
const one =
  (f: (ins: Tensor[], p: Record<string, Tensor>, a: Record<string, any>) => Tensor): Runner =>
  (ins, p, a) => ({ out: f(ins, p, a) });
const unary = (f: (x: Tensor, a: Record<string, any>) => Tensor): Runner => one(([x], _p, a) => f(x!, a));
const binary = (f: (x: Tensor, y: Tensor) => Tensor): Runner => one(([x, y]) => f(x!, y!));
const dims = (d: unknown): number | number[] | null => (d === null || d === undefined ? null : (d as number | number[]));

/** Optimizer cases: from param.w, for each step set the gradient to grad.step<i>, step, snapshot the weights. */
const optimizerCase =
  (make: (w: Tensor, a: Record<string, any>) => mox.optim.Optimizer<any>): Runner =>
  (_ins, p, a, all) => {
    const w = p.w!;
    const opt = make(w, a);
    const outs: Record<string, Tensor> = {};
    for (let i = 0; all[`grad.step${i}`]; i++) {
      w.grad = all[`grad.step${i}`]!;
      opt.step();
      outs[`out.step${i}`] = w.detach().clone();
    }
    w.grad = null;
    return outs;
  };
const adamOpts = (a: Record<string, any>) => ({ lr: a.lr, betas: a.betas, eps: a.eps, weightDecay: a.weight_decay, amsgrad: a.amsgrad });

/**
 * Module cases: the module built from the case's args, its parameters loaded from param.* by name
 * (a strict load, so the key names are checked too), zero initial state. The gradients are read from
 * the module's own parameters, so `params` is pointed at them.
 */
const moduleCase =
  (make: (a: Record<string, any>) => mox.nn.Module, run: (m: any, ins: Tensor[], a: Record<string, any>) => Tensor[]): Runner =>
  (ins, p, a) => {
    const m = make(a);
    m.loadStateDict(p);
    for (const [k, t] of m.namedParameters()) p[k] = t;
    const outs = run(m, ins, a);
    return outs.length === 1 ? { out: outs[0]! } : Object.fromEntries(outs.map((t, i) => [`out.${i}`, t]));
  };
const rnnOpts = (a: Record<string, any>) => ({ numLayers: a.num_layers, batchFirst: a.batch_first, bias: a.bias ?? true });

const RUNNERS: Record<string, Runner> = {
  neg: unary((x) => x.neg()),
  exp: unary((x) => x.exp()),
  log: unary((x) => x.log()),
  sqrt: unary((x) => x.sqrt()),
  tanh: unary((x) => x.tanh()),
  sigmoid: unary((x) => x.sigmoid()),
  relu: unary((x) => x.relu()),
  abs: unary((x) => x.abs()),
  silu: unary((x) => x.silu()),
  gelu: unary((x, a) => x.gelu(a.approximate)),
  gelu_tanh: unary((x) => x.gelu('tanh')),
  pow_scalar: unary((x, a) => x.pow(a.exponent)),
  add: binary((x, y) => x.add(y)),
  sub: binary((x, y) => x.sub(y)),
  mul: binary((x, y) => x.mul(y)),
  div: binary((x, y) => x.div(y)),
  maximum: binary((x, y) => x.maximum(y)),
  pow: binary((x, y) => x.pow(y)),
  sum: unary((x, a) => x.sum(dims(a.dim), a.keepdim)),
  mean: unary((x, a) => x.mean(dims(a.dim), a.keepdim)),
  max: unary((x, a) => x.max(dims(a.dim), a.keepdim)),
  var: unary((x, a) => x.var(dims(a.dim), { unbiased: a.unbiased, keepdim: a.keepdim })),
  softmax: unary((x, a) => x.softmax(a.dim)),
  log_softmax: unary((x, a) => x.logSoftmax(a.dim)),
  matmul: binary((x, y) => x.matmul(y)),
  view_chain: unary((x, a) => {
    let t = x;
    for (const [name, arg] of a.steps as [string, number[]][]) {
      if (name === 'permute') t = t.permute(arg);
      else if (name === 'reshape') t = t.reshape(arg);
      else if (name === 'transpose') t = t.transpose(arg[0], arg[1]);
      else throw new Error(`unknown view step ${name}`);
    }
    return t;
  }),
  cat: one((ins, _p, a) => mox.concat(ins, a.dim)),
  stack: one((ins, _p, a) => mox.stack(ins, a.dim)),
  slice: unary((x, a) => x.slice(...(a.slices as [number | null, number | null, number | null][]))),
  index_select: one(([x, i], _p, a) => x!.indexSelect(a.dim, i!)),
  gather: one(([x, i], _p, a) => x!.gather(a.dim, i!)),
  linear: one(([x], p) => F.linear(x!, p.weight!, p.bias)),
  conv2d: one(([x], p, a) =>
    F.conv2d(x!, p.weight!, p.bias, { stride: a.stride, padding: a.padding, dilation: a.dilation, groups: a.groups }),
  ),
  conv_transpose2d: one(([x], p, a) =>
    F.convTranspose2d(x!, p.weight!, p.bias, {
      stride: a.stride,
      padding: a.padding,
      outputPadding: a.output_padding,
      dilation: a.dilation,
      groups: a.groups,
    }),
  ),
  max_pool2d: unary((x, a) => F.maxPool2d(x, a.kernel_size, { stride: a.stride, padding: a.padding })),
  avg_pool2d: unary((x, a) =>
    F.avgPool2d(x, a.kernel_size, { stride: a.stride, padding: a.padding, countIncludePad: a.count_include_pad }),
  ),
  adaptive_avg_pool2d: unary((x, a) => F.adaptiveAvgPool2d(x, a.output_size)),
  batch_norm: ([x, rm, rv], p, a) => {
    const runningMean = rm!.detach().clone();
    const runningVar = rv!.detach().clone();
    const out = F.batchNorm(x!, runningMean, runningVar, {
      weight: p.weight,
      bias: p.bias,
      training: a.training,
      momentum: a.momentum,
      eps: a.eps,
    });
    const outs: Record<string, Tensor> = { out };
    if (a.training) Object.assign(outs, { 'out.running_mean': runningMean, 'out.running_var': runningVar });
    return outs;
  },
  layer_norm: one(([x], p, a) => F.layerNorm(x!, a.normalized_shape, p.weight, p.bias, a.eps)),
  embedding: one(([ids], p, a) => F.embedding(ids!, p.weight!, a.padding_idx)),
  mse_loss: one(([x, y], _p, a) => F.mseLoss(x!, y!, a.reduction)),
  l1_loss: one(([x, y], _p, a) => F.l1Loss(x!, y!, a.reduction)),
  cross_entropy: one(([x, y], _p, a) =>
    F.crossEntropy(x!, y!, { ignoreIndex: a.ignore_index, labelSmoothing: a.label_smoothing, reduction: a.reduction }),
  ),
  nll_loss: one(([x, y], _p, a) => F.nllLoss(x!, y!, { ignoreIndex: a.ignore_index, reduction: a.reduction })),
  binary_cross_entropy_with_logits: one(([x, y], _p, a) => F.binaryCrossEntropyWithLogits(x!, y!, { reduction: a.reduction })),
  kl_div: one(([x, y], _p, a) => F.klDiv(x!, y!, { reduction: a.reduction, logTarget: a.log_target })),
  scaled_dot_product_attention: one(([q, k, v], _p, a) =>
    F.scaledDotProductAttention(q!, k!, v!, { isCausal: a.is_causal, scale: a.scale, dropoutP: a.dropout_p }),
  ),
  sgd: optimizerCase(
    (w, a) =>
      new mox.optim.SGD([w], { lr: a.lr, momentum: a.momentum, dampening: a.dampening, nesterov: a.nesterov, weightDecay: a.weight_decay }),
  ),
  adam: optimizerCase((w, a) => new mox.optim.Adam([w], adamOpts(a))),
  adamw: optimizerCase((w, a) => new mox.optim.AdamW([w], adamOpts(a))),
  rmsprop: optimizerCase(
    (w, a) =>
      new mox.optim.RMSprop([w], {
        lr: a.lr,
        alpha: a.alpha,
        eps: a.eps,
        weightDecay: a.weight_decay,
        momentum: a.momentum,
        centered: a.centered,
      }),
  ),
  lstm: moduleCase(
    (a) => new mox.nn.LSTM(a.input_size, a.hidden_size, rnnOpts(a)),
    (m, [x]) => {
      const [out, [h, c]] = m.forward(x!);
      return [out, h, c];
    },
  ),
  gru: moduleCase(
    (a) => new mox.nn.GRU(a.input_size, a.hidden_size, rnnOpts(a)),
    (m, [x]) => m.forward(x!),
  ),
  multihead_attention: moduleCase(
    (a) => new mox.nn.MultiheadAttention(a.embed_dim, a.num_heads, { batchFirst: a.batch_first }),
    (m, [x], a) => {
      // the case's mask: torch.triu(ones(L, L, bool), diagonal=1), true where key j > query i (not allowed)
      const l = x!.shape[a.batch_first ? 1 : 0]!;
      const attnMask = a.causal ? mox.arange(l).unsqueeze(0).gt(mox.arange(l).unsqueeze(1)) : null;
      const [out, w] = m.forward(x!, x!, x!, { attnMask, needWeights: a.need_weights, averageAttnWeights: a.average_attn_weights });
      return a.need_weights ? [out, w] : [out];
    },
  ),
  gpt_block: moduleCase(
    (a) => new mox.nn.TransformerBlock(a.n_embd, a.n_head, { lnEps: a.ln_eps, causal: a.causal }),
    (m, [x]) => [m.forward(x!)],
  ),
};

async function compare(name: string, actual: Tensor, expected: Tensor, rtol: number, atol: number): Promise<string | null> {
  if (actual.shape.join(',') !== expected.shape.join(',')) return `${name}: shape [${actual.shape}] != expected [${expected.shape}]`;
  if (actual.device !== device) return `${name}: computed on ${actual.device}, expected on ${device}`;
  const a = await actual.data();
  const e = await expected.data();
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < e.length; i++) {
    const diff = Math.abs(a[i]! - e[i]!);
    const excess = diff - (atol + rtol * Math.abs(e[i]!));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(diff))) {
      worst = i;
      worstExcess = excess;
    }
  }
  return worst < 0 ? null : `${name}: element ${worst}: got ${a[worst]}, expected ${e[worst]} (rtol ${rtol}, atol ${atol})`;
}

/** Runs one case; returns a list of mismatches (empty when it passes). */
async function runCase(c: Case): Promise<string[]> {
  // The graph is built and run inside a scope (sync); the outputs to check are kept past it and read
  // back afterwards (async, as a GPU read must be), then freed.
  const checks: [string, Tensor, Tensor][] = [];
  const problems = mox.scope(() => {
    const loaded = loadSafetensorsSync(path.join(dir, c.file)).tensors;
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(loaded)) tensors[k] = t.to(device);
    const ins: Tensor[] = [];
    for (let i = 0; tensors[`in.${i}`]; i++) {
      const t = tensors[`in.${i}`]!;
      if (c.grads.includes(`grad.in.${i}`)) t.requiresGrad = true;
      ins.push(t);
    }
    const params: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (k.startsWith('param.')) params[k.slice(6)] = t.requiresGrad_(true);
    }
    const args = c.args;
    const leaves = [...ins];
    if (args.transpose_in0) ins[0] = ins[0]!.transpose(args.transpose_in0[0], args.transpose_in0[1]);
    const outs = RUNNERS[c.op]!(ins, params, args, tensors);
    const problems: string[] = [];
    let total: Tensor | null = null;
    for (const [name, out] of Object.entries(outs)) {
      const expected = tensors[name];
      if (!expected) {
        problems.push(`${name}: missing in the golden file`);
        continue;
      }
      checks.push([name, mox.keep(out.detach()), mox.keep(expected.detach())]);
      const gout = tensors[name.replace(/^out/, 'gout')];
      if (gout && out.requiresGrad) {
        const term = out.mul(gout).sum();
        total = total ? total.add(term) : term;
      }
    }
    if (total) total.backward();
    for (const g of c.grads) {
      const key = g.slice('grad.'.length);
      const leaf = key.startsWith('in.') ? leaves[Number(key.slice(3))] : params[key.slice('param.'.length)];
      if (!leaf?.grad) {
        problems.push(`${g}: no gradient computed`);
        continue;
      }
      checks.push([g, mox.keep(leaf.grad.detach()), mox.keep(tensors[g]!.detach())]);
    }
    return problems;
  });
  try {
    for (const [name, actual, expected] of checks) {
      const p = await compare(name, actual, expected, c.rtol, c.atol);
      if (p) problems.push(p);
    }
  } finally {
    for (const [, a, e] of checks) {
      a.dispose();
      e.dispose();
    }
  }
  return problems;
}

const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { cases: Case[] };
const tally = { passed: 0, failed: 0, notCovered: 0 };
// MOX_DEVICE=webgpu runs every case on the GPU (the inputs are moved there, the results read back).
const device = process.env.MOX_DEVICE ?? 'cpu';
if (device !== 'cpu') {
  await mox.initDevice(device);
  mox.setDevice(device);
}

for (const c of manifest.cases) {
  if (NOT_COVERED.has(c.op) || !RUNNERS[c.op]) {
    tally.notCovered++;
    continue;
  }
  test(`golden ${c.file.replace('.safetensors', '')}: ${c.op}`, async () => {
    let problems: string[];
    try {
      problems = await runCase(c);
    } catch (e) {
      problems = [`threw ${(e as Error).stack}`];
    }
    if (problems.length) tally.failed++;
    else tally.passed++;
    assert.deepEqual(problems, [], `${c.file}: ${problems.join('; ')}`);
  });
}

after(() => {
  console.log(`golden: ${tally.passed} passed, ${tally.failed} failed, ${tally.notCovered} not covered (device ${device})`);
});
