// The Vision Transformer of "An Image is Worth 16x16 Words" (Dosovitskiy et al. 2021), shaped as
// timm's VisionTransformer with its defaults (class-token pooling, learned absolute positions, a final
// LayerNorm, LayerNorm eps 1e-6, exact GELU, biases everywhere):
//
//   patches = patch_embed.proj(x)                      Conv2d, kernel = stride = patch: [B, D, gh, gw]
//   tokens  = [cls_token; patches as [B, N, D]] + pos_embed, then pos_drop     [B, 1 + N, D]
//   tokens  = blocks(tokens)                           `depth` pre-LayerNorm TransformerBlocks, causal: false
//   logits  = head(norm(tokens)[:, 0])                 the class token's final state -> [B, numClasses]
//
// Parameter names are timm's outside the blocks (cls_token, pos_embed, patch_embed.proj.weight,
// norm.weight, head.weight, ...). The blocks are mox's TransformerBlock, whose names are nanoGPT's:
// timm's blocks.0.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2 are ln_1 / attn.c_attn /
// attn.c_proj / ln_2 / mlp.c_fc / mlp.c_proj here, with the same shapes and the same q, k, v packing,
// so a timm state dict loads through vitKeyFromTimm (and a mox one leaves through vitKeyToTimm).
//
// Initialisation is timm's default ('', init_weights_vit_timm): pos_embed truncated normal std 0.02
// (cut at +-2, i.e. effectively untruncated), cls_token normal std 1e-6, every Linear weight
// truncated normal std 0.02 with zero biases, LayerNorms ones and zeros, and the patch projection
// keeping Conv2d's default (PyTorch's Kaiming-uniform), as timm leaves it.
//
// Dropout: one rate for the position dropout and, inside each block, the attention weights and both
// residual branches (timm splits these into pos_drop_rate, attn_drop_rate and proj_drop_rate, all 0 by
// default; timm's MLP also drops after the GELU, mox's TransformerMLP only after fc2).

import '../ops/tensor-methods.js';
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import type { DType } from '../base/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Generator, globalGenerator } from '../tensor/random.js';
import { concat } from '../ops/join.js';
import { defaultLayerInit_, normal_, ones_, truncNormal_, zeros_ } from '../nn/init.js';
import { Module } from '../nn/module.js';
import { Parameter } from '../nn/parameter.js';
import { Linear } from '../nn/layers/linear.js';
import { Conv2d } from '../nn/layers/conv.js';
import { LayerNorm } from '../nn/layers/normalization.js';
import { Dropout } from '../nn/layers/dropout.js';
import { TransformerBlock } from '../nn/layers/transformer.js';
import { toPair } from '../nn/layers/repr.js';

/** A Vision Transformer's architecture (timm's names): image and patch sizes, width, depth, heads. */
export interface ViTConfig {
  /** Input height and width (one number for a square image). */
  imageSize: [number, number];
  /** Patch height and width; each must divide the image's. */
  patchSize: [number, number];
  /** Input channels (default 3, as timm). */
  inChannels: number;
  /** Number of output classes. */
  numClasses: number;
  /** Token width (timm's embed_dim). */
  dim: number;
  /** Number of Transformer blocks. */
  depth: number;
  /** Attention heads per block; must divide dim. */
  heads: number;
  /** MLP hidden width = round(mlpRatio * dim) (default 4). */
  mlpRatio: number;
  /** Dropout after the position embedding and inside the blocks, in training only (default 0). */
  dropout: number;
  /** LayerNorm epsilon of every norm (default 1e-6, timm's). */
  lnEps: number;
}

/** Options of the ViT constructor: the required sizes (a square as one number), the rest optional. */
export type ViTOptions = {
  /** Input height and width (one number for a square image). */
  imageSize: number | readonly [number, number];
  /** Patch height and width; each must divide the image's. */
  patchSize: number | readonly [number, number];
  /** Number of output classes. */
  numClasses: number;
  /** Token width (timm's embed_dim). */
  dim: number;
  /** Number of Transformer blocks. */
  depth: number;
  /** Attention heads per block; must divide dim. */
  heads: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** MLP hidden width as a multiple of dim (default 4). */
  mlpRatio?: number;
  /** Dropout after the position embedding and inside the blocks (default 0). */
  dropout?: number;
  /** LayerNorm epsilon (default 1e-6). */
  lnEps?: number;
  /** The parameters' dtype (default float32). */
  dtype?: DType;
  /** The parameters' device (default the current device). */
  device?: string;
  /** Generator for the initial weights and the dropout masks (default: the global one, so mox.seed(n) fixes them). */
  generator?: Generator;
};

const OP = 'ViT';

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(OP, `${name} must be a positive integer, got ${v}`);
}

/** timm's PatchEmbed: a Conv2d with kernel = stride = patch size, its output flattened to tokens. */
export class PatchEmbed extends Module {
  /** Input [height, width]. */
  readonly imageSize: [number, number];
  /** Patch [height, width]. */
  readonly patchSize: [number, number];
  /** Patches per [column, row]: imageSize / patchSize. */
  readonly gridSize: [number, number];
  /** Number of patches (tokens) per image. */
  readonly numPatches: number;
  /** The patch projection: a Conv2d with kernel = stride = patch size. */
  proj: Conv2d;

  /** Patch embedding of images of imageSize into tokens of width dim. */
  constructor(
    imageSize: [number, number],
    patchSize: [number, number],
    inChannels: number,
    dim: number,
    opts: { dtype?: DType; device?: string } = {},
  ) {
    super();
    this.imageSize = imageSize;
    this.patchSize = patchSize;
    this.gridSize = [imageSize[0] / patchSize[0], imageSize[1] / patchSize[1]];
    this.numPatches = this.gridSize[0] * this.gridSize[1];
    this.proj = new Conv2d(inChannels, dim, patchSize, { stride: patchSize, dtype: opts.dtype, device: opts.device });
  }

  /** x [B, C, H, W] -> [B, numPatches, dim], patches in row-major order. */
  forward(x: Tensor): Tensor {
    const y = this.proj.forward(x); // [B, D, gh, gw]
    const [b, d] = y.shape as [number, number];
    return y.reshape(b, d, this.numPatches).transpose(1, 2);
  }

  override extraRepr(): string {
    return `img_size=(${this.imageSize.join(', ')}), patch_size=(${this.patchSize.join(', ')}), num_patches=${this.numPatches}`;
  }
}

export class ViT extends Module {
  /** The architecture the model was built with. */
  readonly config: ViTConfig;
  /** The learned class token [1, 1, dim], prepended to the patch tokens. */
  cls_token: Parameter;
  /** Learned position embedding [1, numPatches + 1, dim]. */
  pos_embed: Parameter;
  /** Splits an image into patch tokens. */
  patch_embed: PatchEmbed;
  /** Dropout after the position embedding. */
  pos_drop: Dropout;
  /** The Transformer blocks. */
  blocks: TransformerBlock[];
  /** The final LayerNorm. */
  norm: LayerNorm;
  /** Classifier head on the class token. */
  head: Linear;

  /** A Vision Transformer with fresh weights (timm's initialisation). */
  constructor(opts: ViTOptions) {
    super();
    const cfg: ViTConfig = {
      imageSize: toPair(opts.imageSize),
      patchSize: toPair(opts.patchSize),
      inChannels: opts.inChannels ?? 3,
      numClasses: opts.numClasses,
      dim: opts.dim,
      depth: opts.depth,
      heads: opts.heads,
      mlpRatio: opts.mlpRatio ?? 4,
      dropout: opts.dropout ?? 0,
      lnEps: opts.lnEps ?? 1e-6,
    };
    cfg.imageSize.forEach((v, i) => positiveInt(`imageSize[${i}]`, v));
    cfg.patchSize.forEach((v, i) => positiveInt(`patchSize[${i}]`, v));
    for (const k of ['inChannels', 'numClasses', 'dim', 'depth', 'heads'] as const) positiveInt(k, cfg[k]);
    const [h, w] = cfg.imageSize;
    const [ph, pw] = cfg.patchSize;
    if (h % ph !== 0 || w % pw !== 0) {
      throw new ValueError(OP, `the image size ${h}x${w} must be divisible by the patch size ${ph}x${pw}`);
    }
    if (cfg.dim % cfg.heads !== 0) throw new ValueError(OP, `dim ${cfg.dim} must be divisible by heads ${cfg.heads}`);
    const hidden = Math.round(cfg.mlpRatio * cfg.dim);
    if (!(cfg.mlpRatio > 0) || hidden < 1) throw new ValueError(OP, `mlpRatio must give an MLP width of at least 1, got ${cfg.mlpRatio}`);
    if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ValueError(OP, `dropout must be in [0, 1), got ${cfg.dropout}`);
    if (!(cfg.lnEps > 0)) throw new ValueError(OP, `lnEps must be positive, got ${cfg.lnEps}`);
    this.config = cfg;

    const dt = { dtype: opts.dtype, device: opts.device };
    const g = opts.generator;
    // declared and built in timm's order, so the parameters are listed as timm's state dict lists them
    this.cls_token = Parameter.zeros([1, 1, cfg.dim], dt);
    this.patch_embed = new PatchEmbed(cfg.imageSize, cfg.patchSize, cfg.inChannels, cfg.dim, dt);
    this.pos_embed = Parameter.zeros([1, this.patch_embed.numPatches + 1, cfg.dim], dt);
    this.pos_drop = new Dropout(cfg.dropout, { generator: g });
    this.blocks = Array.from(
      { length: cfg.depth },
      () =>
        new TransformerBlock(cfg.dim, cfg.heads, {
          causal: false,
          geluApproximate: 'none',
          lnEps: cfg.lnEps,
          mlpHidden: hidden,
          dropout: cfg.dropout,
          ...dt,
          generator: g,
        }),
    );
    this.norm = new LayerNorm(cfg.dim, { eps: cfg.lnEps, ...dt });
    this.head = new Linear(cfg.dim, cfg.numClasses, true, dt);
    this.initWeights(g);
  }

  /** timm's init_weights (mode ''): see the file's header. */
  initWeights(generator: Generator = globalGenerator): void {
    truncNormal_(this.pos_embed, 0, 0.02, -2, 2, generator);
    normal_(this.cls_token, 0, 1e-6, generator);
    for (const m of this.modules()) {
      if (m instanceof Linear) {
        truncNormal_(m.weight, 0, 0.02, -2, 2, generator);
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof LayerNorm) {
        if (m.weight) ones_(m.weight);
        if (m.bias) zeros_(m.bias);
      } else if (m instanceof Conv2d) {
        defaultLayerInit_(m.weight, m.bias, generator);
      }
    }
  }

  /** Number of tokens the blocks see: the patches plus the class token. */
  get numTokens(): number {
    return this.patch_embed.numPatches + 1;
  }

  /** x [B, C, H, W] -> the tokens after the final norm, [B, 1 + numPatches, dim] (timm's forward_features). */
  forwardFeatures(x: Tensor): Tensor {
    const { inChannels, imageSize } = this.config;
    if (x.ndim !== 4 || x.shape[1] !== inChannels || x.shape[2] !== imageSize[0] || x.shape[3] !== imageSize[1]) {
      throw new ShapeError(OP, `expected images [B, ${inChannels}, ${imageSize[0]}, ${imageSize[1]}], got ${fmtShape(x.shape)}`);
    }
    const b = x.shape[0]!;
    const patches = this.patch_embed.forward(x);
    const cls = this.cls_token.expand(b, 1, this.config.dim);
    let t = this.pos_drop.forward(concat([cls, patches], 1).add(this.pos_embed));
    for (const block of this.blocks) t = block.forward(t);
    return this.norm.forward(t);
  }

  /** tokens [B, T, dim] (forwardFeatures' output) -> logits [B, numClasses], from the class token. */
  forwardHead(features: Tensor): Tensor {
    const [b, , d] = features.shape as [number, number, number];
    return this.head.forward(features.narrow(1, 0, 1).reshape(b, d));
  }

  /** x [B, C, H, W] -> logits [B, numClasses]. */
  forward(x: Tensor): Tensor {
    return this.forwardHead(this.forwardFeatures(x));
  }

  /**
   * A fresh head for numClasses classes (timm's reset_classifier), initialised as timm's: for transfer
   * learning, e.g. `vit.resetClassifier(10); vit.requiresGrad_(false); vit.head.requiresGrad_(true)`.
   */
  resetClassifier(numClasses: number, generator: Generator = globalGenerator): void {
    positiveInt('numClasses', numClasses);
    const old = this.head;
    this.head = new Linear(this.config.dim, numClasses, true, { dtype: old.weight.dtype, device: old.weight.device });
    truncNormal_(this.head.weight, 0, 0.02, -2, 2, generator);
    if (this.head.bias) zeros_(this.head.bias);
    this.head.train(this.training);
    old.weight.dispose();
    old.bias?.dispose();
    (this.config as { numClasses: number }).numClasses = numClasses;
  }

  override extraRepr(): string {
    const c = this.config;
    return `dim=${c.dim}, depth=${c.depth}, heads=${c.heads}, num_patches=${this.patch_embed.numPatches}, num_classes=${c.numClasses}`;
  }
}

/** timm's names inside a block, and mox's TransformerBlock's for the same tensors. */
const TIMM_BLOCK_NAMES: readonly [string, string][] = [
  ['norm1', 'ln_1'],
  ['attn.qkv', 'attn.c_attn'],
  ['attn.proj', 'attn.c_proj'],
  ['norm2', 'ln_2'],
  ['mlp.fc1', 'mlp.c_fc'],
  ['mlp.fc2', 'mlp.c_proj'],
];

function renameBlockKey(key: string, from: 0 | 1): string {
  const m = /^(blocks\.\d+\.)(.+)\.(weight|bias)$/.exec(key);
  if (!m) return key;
  const pair = TIMM_BLOCK_NAMES.find((p) => p[from] === m[2]);
  return pair ? `${m[1]}${pair[1 - from]}.${m[3]}` : key;
}

/** A timm VisionTransformer state-dict key as this ViT names it ('blocks.0.attn.qkv.weight' -> 'blocks.0.attn.c_attn.weight'). */
export function vitKeyFromTimm(key: string): string {
  return renameBlockKey(key, 0);
}

/** This ViT's parameter name as timm names it ('blocks.0.mlp.c_fc.bias' -> 'blocks.0.mlp.fc1.bias'). */
export function vitKeyToTimm(key: string): string {
  return renameBlockKey(key, 1);
}
