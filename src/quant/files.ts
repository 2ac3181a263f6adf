// Quantized weights in safetensors files. A quantized layer P stores:
//   int8, dynamic-int8: P.weight I8 [out, in]            P.weight_scale F32 [out]
//   int4 (Q4_0):        P.weight U8 [out, groups * 16]   P.weight_scale F16 [out, groups]
// (int4: byte j of a group of 32 holds q_j in its low nibble and q_{j+16} in its high one, q = w / d + 8
// rounded into [0, 15]; see backend/quant-format.ts), and its float bias as P.bias F32. A head tied to an embedding is not
// stored (Hugging Face omits a tied lm_head.weight too). Everything else is float, as before. The
// file's metadata carries the `quantization` block as JSON; a GPT checkpoint's config.json has it too.

import '../ops/tensor-methods.js';
import { DataError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { Linear } from '../nn/layers/linear.js';
import { Embedding } from '../nn/layers/embedding.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/create.js';
import { decodeEntry, encodeSafetensors, type EncodedTensor, type RawTensor, type SafetensorsEntry } from '../io/safetensors-format.js';
import { writeFileAtomic } from '../io/files.js';
import { float32ToHalfBits, halfToFloat32 } from '../base/float16.js';
import { INT4_GROUP, type PackedWeight, type QuantScheme, isQuantScheme, quantLayout } from '../backend/quant-format.js';
import { QuantizedWeight } from '../ops/quant.js';
import { QuantizedEmbedding, QuantizedLinear } from './layers.js';
import { type QuantizationInfo, quantizationInfo } from './quantize.js';

/** The layer's weight as the file stores it: the packed rows without padding, and the scales. */
function encodeWeight(p: PackedWeight): { weight: EncodedTensor; scale: EncodedTensor } {
  const { layout } = p;
  if (layout.scheme === 'int4') {
    const half = new Uint16Array(p.scales.length);
    for (let i = 0; i < half.length; i++) half[i] = float32ToHalfBits(p.scales[i]!);
    return {
      weight: { dtype: 'U8', shape: [layout.rows, layout.rowBytes], bytes: p.bytes },
      scale: { dtype: 'F16', shape: [layout.rows, layout.groups], bytes: new Uint8Array(half.buffer) },
    };
  }
  const bytes = new Uint8Array(layout.rows * layout.cols);
  for (let r = 0; r < layout.rows; r++)
    bytes.set(p.bytes.subarray(r * layout.rowBytes, r * layout.rowBytes + layout.cols), r * layout.cols);
  return {
    weight: { dtype: 'I8', shape: [layout.rows, layout.cols], bytes },
    scale: { dtype: 'F32', shape: [layout.rows], bytes: new Uint8Array(p.scales.buffer, p.scales.byteOffset, p.scales.byteLength) },
  };
}

/** The JSON block a quantized model's files carry (config.json's "quantization", the weights file's metadata). */
export function quantizationBlock(info: QuantizationInfo): Record<string, unknown> {
  return {
    scheme: info.scheme,
    bits: info.scheme === 'int4' ? 4 : 8,
    group_size: info.groupSize,
    weight_format: info.scheme === 'int4' ? 'Q4_0: U8 [out, groups*16] + F16 scales [out, groups]' : 'I8 [out, in] + F32 scales [out]',
    activations:
      info.scheme === 'dynamic-int8' ? 'uint7 per row at run time' : info.scheme === 'int4' ? 'int8 blocks of 32 at run time' : 'float32',
    modules: info.modules,
    skipped: info.skipped,
    tied: info.tied,
  };
}

/** Parses a `quantization` block (from config.json or metadata); `source` names the file in errors. */
export function parseQuantizationBlock(v: unknown, source: string): QuantizationInfo {
  const bad = (msg: string) => new DataError('checkpoint', `${source}: quantization: ${msg}`);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('expected an object');
  const o = v as Record<string, unknown>;
  if (!isQuantScheme(o['scheme'])) throw bad(`unknown scheme ${JSON.stringify(o['scheme'])} (expected int8, int4 or dynamic-int8)`);
  const names = (k: string): string[] => {
    const a = o[k] ?? [];
    if (!Array.isArray(a) || !a.every((s) => typeof s === 'string')) throw bad(`${k} must be a list of module names`);
    return a as string[];
  };
  const tied = o['tied'] ?? [];
  if (!Array.isArray(tied) || !tied.every((p) => Array.isArray(p) && p.length === 2 && p.every((s) => typeof s === 'string')))
    throw bad('tied must be a list of [head, embedding] name pairs');
  const scheme = o['scheme'] as QuantScheme;
  return {
    scheme,
    groupSize: scheme === 'int4' ? INT4_GROUP : null,
    modules: names('modules'),
    skipped: names('skipped'),
    tied: tied as [string, string][],
  };
}

/** A quantized model's state as safetensors bytes (any device: tensors are read asynchronously). */
export async function quantizedSafetensors(model: Module, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const info = quantizationInfo(model);
  if (!info) throw new ValueError('saveQuantized', 'the model has no quantized layer (mox.quantize it first)');
  const out: Record<string, RawTensor | EncodedTensor> = {};
  const packedNames = new Set<string>();
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof QuantizedLinear || m instanceof QuantizedEmbedding)) continue;
    if (m instanceof QuantizedLinear && m.tiedTo) continue;
    const enc = encodeWeight(await m.qweight.packedAsync());
    const p = name ? `${name}.` : '';
    out[`${p}weight`] = enc.weight;
    out[`${p}weight_scale`] = enc.scale;
    packedNames.add(`${p}weight`).add(`${p}weight_scale`);
  }
  for (const [k, t] of Object.entries(model.stateDict())) {
    if (packedNames.has(k)) continue;
    out[k] = { dtype: t.dtype, shape: t.shape, data: await t.data() };
  }
  return encodeSafetensors(out, { ...metadata, quantization: JSON.stringify(quantizationBlock(info)) });
}

/** Saves a quantized model's state to `file` (atomically: a temporary name, then a rename). */
export async function saveQuantized(file: string, model: Module, metadata: Record<string, string> = {}): Promise<void> {
  const bytes = await quantizedSafetensors(model, metadata);
  writeFileAtomic(file, bytes);
}

/** The packed weight of quantized layer `name` from the file's entries, checked against the float layer's shape. */
function readWeight(
  entries: Map<string, SafetensorsEntry>,
  name: string,
  rows: number,
  cols: number,
  scheme: QuantScheme,
  source: string,
): PackedWeight {
  const p = name ? `${name}.` : '';
  const layout = quantLayout(scheme, rows, cols);
  const w = entries.get(`${p}weight`);
  const s = entries.get(`${p}weight_scale`);
  const bad = (msg: string) => new DataError('checkpoint', `${source}: ${p}weight: ${msg}`);
  if (!w || !s) throw bad(`a ${scheme} layer needs ${p}weight and ${p}weight_scale; ${!w ? 'the weight' : 'the scale'} is missing`);
  const int4 = scheme === 'int4';
  const wantW = int4 ? { dtype: 'U8', shape: [rows, layout.rowBytes] } : { dtype: 'I8', shape: [rows, cols] };
  const wantS = int4 ? { dtype: 'F16', shape: [rows, layout.groups] } : { dtype: 'F32', shape: [rows] };
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (w.dtype !== wantW.dtype || !same(w.shape, wantW.shape))
    throw bad(`expected ${wantW.dtype} [${wantW.shape.join(', ')}] for ${scheme}, the file has ${w.dtype} [${w.shape.join(', ')}]`);
  if (s.dtype !== wantS.dtype || !same(s.shape, wantS.shape))
    throw bad(`expected the scale as ${wantS.dtype} [${wantS.shape.join(', ')}], the file has ${s.dtype} [${s.shape.join(', ')}]`);
  const scales = int4 ? halfToFloat32(new Uint16Array(new Uint8Array(s.data).buffer)) : new Float32Array(new Uint8Array(s.data).buffer);
  for (let i = 0; i < scales.length; i++) if (!Number.isFinite(scales[i]!)) throw bad(`scale ${i} is ${scales[i]}: the file is corrupt`);
  let bytes: Uint8Array;
  if (int4) bytes = new Uint8Array(w.data);
  else {
    bytes = new Uint8Array(rows * layout.rowBytes);
    for (let r = 0; r < rows; r++) bytes.set(w.data.subarray(r * cols, (r + 1) * cols), r * layout.rowBytes);
  }
  return { layout, bytes, scales, rowSums: null };
}

/**
 * Turns a float model of the right shape (a freshly built skeleton) into the quantized model a file
 * describes, in place: each layer `info.modules` names becomes quantized with the file's weights, tied
 * heads are tied again, and every float tensor is loaded from the file. Every key must match.
 */
export function loadQuantizedInto(
  model: Module,
  info: QuantizationInfo,
  entries: Map<string, SafetensorsEntry>,
  source: string,
  device = 'cpu',
): void {
  const modules = new Map(model.namedModules());
  const tiedHeads = new Map(info.tied);
  const used = new Set<string>();
  noGrad(() => {
    const quantized = new Map<string, QuantizedEmbedding>();
    const order = [...info.modules].sort((a, b) => Number(tiedHeads.has(a)) - Number(tiedHeads.has(b)));
    for (const name of order) {
      const m = modules.get(name);
      if (!(m instanceof Linear) && !(m instanceof Embedding))
        throw new DataError('checkpoint', `${source}: quantization names '${name}', which is not a Linear or Embedding of this model`);
      let replacement: QuantizedLinear | QuantizedEmbedding;
      const tiedTo = tiedHeads.get(name);
      if (tiedTo !== undefined) {
        const table = quantized.get(tiedTo);
        if (!(m instanceof Linear) || !table)
          throw new DataError(
            'checkpoint',
            `${source}: quantization ties '${name}' to '${tiedTo}', which is not a quantized embedding of this model`,
          );
        replacement = new QuantizedLinear(table, m.bias);
      } else {
        const [rows, cols] = m.weight.shape as [number, number];
        const w = QuantizedWeight.fromPacked(readWeight(entries, name, rows, cols, info.scheme, source), device);
        const p = name ? `${name}.` : '';
        used.add(`${p}weight`).add(`${p}weight_scale`);
        if (m instanceof Embedding) {
          const q = new QuantizedEmbedding(w);
          quantized.set(name, q);
          replacement = q;
        } else replacement = new QuantizedLinear(w, m.bias);
      }
      replacement.training = m.training;
      model.setSubmodule(name, replacement);
      if (!model.parameters().includes(m.weight)) m.weight.dispose();
    }
  });
  // the float rest: every remaining key of the model must be in the file, and nothing else
  const own = model.stateDict();
  const floatKeys = Object.keys(own).filter((k) => !used.has(k));
  const missing = floatKeys.filter((k) => !entries.has(k));
  const unexpected = [...entries.keys()].filter((k) => !used.has(k) && !(k in own));
  if (missing.length || unexpected.length)
    throw new DataError(
      'checkpoint',
      `${source} does not fit the model: ${[missing.length ? `missing ${missing.slice(0, 5).join(', ')}` : '', unexpected.length ? `unexpected ${unexpected.slice(0, 5).join(', ')}` : ''].filter(Boolean).join('; ')}`,
    );
  const loaded: Record<string, Tensor> = {};
  try {
    for (const k of floatKeys) {
      const { dtype, data } = decodeEntry(entries.get(k)!, k, source);
      loaded[k] = tensor(data, { shape: entries.get(k)!.shape.slice(), dtype, device });
    }
    try {
      model.loadStateDict(loaded, false);
    } catch (e) {
      throw new DataError('checkpoint', `${source} does not fit the model: ${(e as Error).message}`);
    }
  } finally {
    for (const t of Object.values(loaded)) t.dispose();
  }
}
