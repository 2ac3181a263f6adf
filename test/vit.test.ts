// mox.models.ViT: shapes, timm's parameter names and counts, initialisation, typed errors, a
// finite-difference gradcheck, and agreement with PyTorch: test/fixtures/vit-tiny.safetensors holds a
// tiny timm-structured VisionTransformer's weights (under timm's names), an input batch, and the
// logits and gradients PyTorch computed in float64 (scripts/golden-vit.py made it; no Python here).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as mox from '../src/index.js';
import type { Tensor } from '../src/index.js';
import { ViT, vitKeyFromTimm, vitKeyToTimm, type ViTOptions } from '../src/models/vit.js';
import { assertClose } from '../test-support/assert.js';

// dist/test/vit.test.js -> the source tree's test/fixtures
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/vit-tiny.safetensors', import.meta.url));

const tiny = (o: Partial<ViTOptions> = {}): ViT =>
  new ViT({ imageSize: 8, patchSize: 4, inChannels: 2, numClasses: 3, dim: 8, depth: 2, heads: 2, generator: new mox.Generator(1), ...o });

/** The parameter names of one timm Block, in timm's order. */
const TIMM_BLOCK = [
  'norm1.weight',
  'norm1.bias',
  'attn.qkv.weight',
  'attn.qkv.bias',
  'attn.proj.weight',
  'attn.proj.bias',
  'norm2.weight',
  'norm2.bias',
  'mlp.fc1.weight',
  'mlp.fc1.bias',
  'mlp.fc2.weight',
  'mlp.fc2.bias',
];

describe('ViT: structure', () => {
  it('maps [B, C, H, W] images to [B, numClasses] logits through 1 + numPatches tokens', () => {
    const vit = new ViT({ imageSize: [8, 12], patchSize: 4, inChannels: 3, numClasses: 5, dim: 16, depth: 1, heads: 4 });
    assert.deepEqual(vit.patch_embed.gridSize, [2, 3]);
    assert.equal(vit.numTokens, 7);
    mox.scope(() => {
      const x = mox.randn([2, 3, 8, 12]);
      assert.deepEqual(vit.forwardFeatures(x).shape, [2, 7, 16]);
      assert.deepEqual(vit.forward(x).shape, [2, 5]);
    });
  });

  it("names its parameters as timm's VisionTransformer, in timm's order, with timm's count", () => {
    const vit = new ViT({ imageSize: 28, patchSize: 7, inChannels: 1, numClasses: 10, dim: 64, depth: 4, heads: 4 });
    const names = vit.namedParameters().map(([n]) => n);
    const timm = [
      'cls_token',
      'pos_embed',
      'patch_embed.proj.weight',
      'patch_embed.proj.bias',
      ...[0, 1, 2, 3].flatMap((i) => TIMM_BLOCK.map((k) => `blocks.${i}.${k}`)),
      'norm.weight',
      'norm.bias',
      'head.weight',
      'head.bias',
    ];
    assert.deepEqual(names.map(vitKeyToTimm), timm);
    assert.deepEqual(timm.map(vitKeyFromTimm), names);
    assert.deepEqual(vit.pos_embed.shape, [1, 17, 64]);
    assert.deepEqual(vit.cls_token.shape, [1, 1, 64]);
    assert.deepEqual(vit.patch_embed.proj.weight.shape, [64, 1, 7, 7]);
    assert.deepEqual(vit.blocks[0]!.attn.c_attn.weight.shape, [192, 64]);
    assert.deepEqual(vit.blocks[0]!.mlp.c_fc.weight.shape, [256, 64]);
    // by hand: cls 64 + pos 17*64 + patch 64*49+64 + 4 blocks of (2 norms 4*64, qkv 64*192+192,
    // proj 64*64+64, fc1 64*256+256, fc2 256*64+64) + norm 128 + head 64*10+10
    const block = 4 * 64 + (64 * 192 + 192) + (64 * 64 + 64) + (64 * 256 + 256) + (256 * 64 + 64);
    const expected = 64 + 17 * 64 + (64 * 49 + 64) + 4 * block + 128 + (64 * 10 + 10);
    assert.equal(expected, 205_066); // as PyTorch counts scripts/golden-vit.py's model in this shape
    assert.equal(vit.numParameters(), expected);
  });

  it('initialises as timm: pos_embed N(0, 0.02), cls_token N(0, 1e-6), Linear N(0, 0.02) with zero biases, norms 1 and 0', () => {
    const vit = new ViT({
      imageSize: 28,
      patchSize: 7,
      inChannels: 1,
      numClasses: 10,
      dim: 64,
      depth: 2,
      heads: 4,
      generator: new mox.Generator(3),
    });
    const std = (t: Tensor): number => {
      const a = Array.from(t.dataSync() as Float32Array);
      const m = a.reduce((s, v) => s + v, 0) / a.length;
      return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
    };
    assert.ok(Math.abs(std(vit.pos_embed) - 0.02) < 0.002, `pos_embed std ${std(vit.pos_embed)}`);
    assert.ok(std(vit.cls_token) > 0 && std(vit.cls_token) < 1e-5, `cls_token std ${std(vit.cls_token)}`);
    const qkv = vit.blocks[1]!.attn.c_attn;
    assert.ok(Math.abs(std(qkv.weight) - 0.02) < 0.001, `qkv std ${std(qkv.weight)}`);
    for (const b of [qkv.bias!, vit.head.bias!, vit.blocks[0]!.mlp.c_proj.bias!]) assert.ok(Array.from(b.dataSync()).every((v) => v === 0));
    assert.ok(Array.from(vit.norm.weight!.dataSync()).every((v) => v === 1));
    assert.equal(vit.norm.eps, 1e-6);
    assert.equal(vit.blocks[0]!.ln_1.eps, 1e-6);
    // the patch projection keeps Conv2d's default: U(-1/sqrt(fanIn), 1/sqrt(fanIn)) at most
    const w = Array.from(vit.patch_embed.proj.weight.dataSync());
    assert.ok(Math.max(...w.map(Math.abs)) <= 1 / 7 && std(vit.patch_embed.proj.weight) > 0.05);
    // the same generator seed gives the same weights
    const again = new ViT({ ...vit.config, generator: new mox.Generator(3) });
    for (const [[n, p], [, q]] of vit.namedParameters().map((e, i) => [e, again.namedParameters()[i]!] as const)) {
      assert.deepEqual(Array.from(p.dataSync()), Array.from(q.dataSync()), n);
    }
  });

  it('raises typed errors naming the values at fault', () => {
    assert.throws(() => tiny({ imageSize: 10 }), {
      name: 'ValueError',
      message: /ViT: the image size 10x10 must be divisible by the patch size 4x4/,
    });
    assert.throws(() => tiny({ imageSize: [8, 9] }), { name: 'ValueError', message: /image size 8x9 .* patch size 4x4/ });
    assert.throws(() => tiny({ dim: 9, heads: 2 }), { name: 'ValueError', message: /ViT: dim 9 must be divisible by heads 2/ });
    assert.throws(() => tiny({ depth: 0 }), { name: 'ValueError', message: /ViT: depth must be a positive integer, got 0/ });
    assert.throws(() => tiny({ dropout: 1 }), { name: 'ValueError', message: /ViT: dropout must be in \[0, 1\), got 1/ });
    const vit = tiny();
    mox.scope(() => {
      for (const shape of [
        [2, 3, 8, 8],
        [2, 2, 8, 12],
        [2, 8, 8],
      ]) {
        assert.throws(() => vit.forward(mox.zeros(shape)), {
          name: 'ShapeError',
          message: new RegExp(`ViT: expected images \\[B, 2, 8, 8\\], got \\[${shape.join(', ?')}\\]`),
        });
      }
    });
  });

  it('resetClassifier gives a fresh timm-initialised head; freezing the rest leaves only it trainable', () => {
    const vit = tiny();
    vit.resetClassifier(7);
    assert.equal(vit.config.numClasses, 7);
    assert.deepEqual(vit.head.weight.shape, [7, 8]);
    vit.requiresGrad_(false);
    vit.head.requiresGrad_(true);
    assert.equal(vit.numParameters(), 7 * 8 + 7);
    mox.scope(() => assert.deepEqual(vit.forward(mox.randn([1, 2, 8, 8])).shape, [1, 7]));
  });

  it('dropout is active in training only, and seeded by the generator', () => {
    const x = mox.randn([2, 2, 8, 8]);
    const run = (train: boolean): number[] =>
      mox.scope(() => {
        const vit = tiny({ dropout: 0.5, generator: new mox.Generator(5) });
        vit.train(train);
        return Array.from(vit.forward(x).dataSync());
      });
    assert.deepEqual(run(true), run(true));
    assert.notDeepEqual(run(true), run(false));
    assert.deepEqual(run(false), run(false));
  });
});

describe('ViT: gradients', () => {
  it('match central differences (float64) for the images, the class token and the positions', () => {
    const vit = tiny({ dtype: 'float64', generator: new mox.Generator(7) });
    // larger weights than timm's init, so each block's nonlinearity is exercised
    for (const p of vit.parameters()) mox.nn.init.normal_(p, 0, 0.3, new mox.Generator(p.size));
    const G = new mox.Generator(11);
    const leaf = (shape: number[]): Tensor =>
      mox.tensor(
        Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => G.normal()),
        { shape, requiresGrad: true },
      );
    const x = leaf([2, 2, 8, 8]);
    const cls = leaf([1, 1, 8]);
    const pos = leaf([1, 5, 8]);
    const own = { cls: vit.cls_token, pos: vit.pos_embed };
    const fn = (xi: Tensor, c: Tensor, p: Tensor): Tensor => {
      // run the model with these tensors as its class token and positions
      Object.assign(vit, { cls_token: c, pos_embed: p });
      try {
        return vit.forward(xi);
      } finally {
        Object.assign(vit, { cls_token: own.cls, pos_embed: own.pos });
      }
    };
    const r = mox.scope(() => mox.gradcheckDetailed(fn, [x, cls, pos], { raiseException: false }));
    assert.ok(r.ok, `${r.message} (max error ${r.maxError})`);
  });
});

describe('ViT: agreement with PyTorch (test/fixtures/vit-tiny.safetensors)', () => {
  const { tensors, metadata } = mox.loadSafetensorsSync(FIXTURE);
  const config = JSON.parse(metadata.config!) as ViTOptions;
  const get = (k: string): Tensor => {
    const t = tensors[k];
    assert.ok(t, `the fixture has no '${k}'`);
    return t;
  };
  const paramKeys = Object.keys(tensors).filter((k) => k.startsWith('param.'));

  /** The fixture's model in mox, its timm-named weights loaded through vitKeyFromTimm. */
  function load(dtype: 'float32' | 'float64'): ViT {
    const vit = new ViT({ ...config, dtype });
    const sd = Object.fromEntries(paramKeys.map((k) => [vitKeyFromTimm(k.slice('param.'.length)), get(k)]));
    vit.loadStateDict(sd);
    return vit.eval();
  }

  for (const [dtype, atol] of [
    ['float32', 1e-5],
    ['float64', 1e-10],
  ] as const) {
    it(`${dtype}: the logits and every gradient agree (atol ${atol})`, () => {
      const vit = load(dtype);
      assert.equal(paramKeys.length, vit.namedParameters().length);
      mox.scope(() => {
        const x = get('in.0').to(dtype).detach();
        x.requiresGrad = true;
        const out = vit.forward(x);
        assertClose(out, get('out'), { atol, rtol: 0, msg: `${dtype} logits` });
        out.mul(get('gout').to(dtype)).sum().backward();
        assertClose(x.grad!, get('grad.in.0'), { atol, rtol: atol * 10, msg: `${dtype} d/d images` });
        for (const [name, p] of vit.namedParameters()) {
          const expected = get(`grad.param.${vitKeyToTimm(name)}`);
          assertClose(p.grad!, expected, { atol, rtol: atol * 10, msg: `${dtype} d/d ${name}` });
        }
      });
    });
  }
});
