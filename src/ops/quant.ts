// Quantized weights as tensors, and the two ops that use them: the product of float activations with a
// quantized weight (a quantized Linear, or a tied language-model head) and the lookup of its rows (a
// quantized Embedding). The layout and the arithmetic are backend/quant-format.ts's; each device runs
// its fused kernel (backend/fused.ts: quantMatmul, quantRows), and the reference is that file's host
// arithmetic. Inference only: no gradient flows through a quantized weight or into its input.

import { AutogradError, DeviceError, ShapeError, ValueError, fmtShape } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import {
  type PackedWeight,
  type QuantLayout,
  type QuantScheme,
  type QuantWeightViews,
  dequantizeWeight,
  int8RowSums,
  quantMatmulReference,
  quantizeWeight,
} from '../backend/quant-format.js';
import { dispatchFused } from './fused.js';
import { record, wrap } from './make.js';
import { reshape } from './view.js';
import { contiguous } from './view.js';

/**
 * A weight [rows, cols] stored quantized on a device: `data` int32 [rows, rowBytes / 4] (the packed
 * bytes), `scales` float32 [rows, groups], and for dynamic-int8 `rowSums` int32 [rows]. One object may
 * serve two layers (a tied embedding and language-model head).
 */
export class QuantizedWeight {
  /** Wraps quantized buffers already on a device (see fromPacked and quantize to make them). */
  constructor(
    /** How the weight is packed: scheme, rows, columns, groups and row bytes. */
    readonly layout: QuantLayout,
    /** The packed bytes, int32 [rows, rowBytes / 4]. */
    readonly data: Tensor,
    /** Scale of each group of each row, float32 [rows, groups]. */
    readonly scales: Tensor,
    /** Sum of each row's quantized values, int32 [rows] (dynamic-int8 only; null otherwise). */
    readonly rowSums: Tensor | null,
  ) {}

  /** The quantization scheme: 'int8', 'int4' or 'dynamic-int8'. */
  get scheme(): QuantScheme {
    return this.layout.scheme;
  }
  /** The float weight's shape, [rows, cols]. */
  get shape(): [number, number] {
    return [this.layout.rows, this.layout.cols];
  }
  /** The device the weight lives on. */
  get device(): string {
    return this.data.device;
  }
  /** Bytes the weight occupies on its device (packed rows, scales, row sums). */
  get nbytes(): number {
    return this.data.size * 4 + this.scales.size * 4 + (this.rowSums ? this.rowSums.size * 4 : 0);
  }

  /** Puts a host-quantized weight on `device`. */
  static fromPacked(p: PackedWeight, device = 'cpu'): QuantizedWeight {
    const { layout } = p;
    const words = new Int32Array(p.bytes.buffer.slice(p.bytes.byteOffset, p.bytes.byteOffset + p.bytes.byteLength));
    const data = tensor(words, { shape: [layout.rows, layout.rowBytes / 4], dtype: 'int32', device });
    const scales = tensor(p.scales, { shape: [layout.rows, layout.groups], dtype: 'float32', device });
    const sums = layout.scheme === 'dynamic-int8' ? (p.rowSums ?? int8RowSums(layout, p.bytes)) : null;
    const rowSums = sums ? tensor(sums, { shape: [layout.rows], dtype: 'int32', device }) : null;
    return new QuantizedWeight(layout, data, scales, rowSums);
  }

  /** Quantizes a float weight [rows, cols] (read to the host: use quantizeAsync on devices without synchronous reads). */
  static quantize(weight: Tensor, scheme: QuantScheme): QuantizedWeight {
    checkWeight(weight);
    const [rows, cols] = weight.shape as [number, number];
    return QuantizedWeight.fromPacked(quantizeWeight(scheme, Float32Array.from(weight.dataSync()), rows, cols), weight.device);
  }

  /** quantize() for any device: reads the float weight asynchronously. */
  static async quantizeAsync(weight: Tensor, scheme: QuantScheme): Promise<QuantizedWeight> {
    checkWeight(weight);
    const [rows, cols] = weight.shape as [number, number];
    return QuantizedWeight.fromPacked(quantizeWeight(scheme, Float32Array.from(await weight.data()), rows, cols), weight.device);
  }

  /** The buffers as kernels receive them. */
  views(): QuantWeightViews {
    return { layout: this.layout, data: this.data.view_(), scales: this.scales.view_(), rowSums: this.rowSums?.view_() ?? null };
  }

  /** The packed bytes and scales, read back to the host (for saving). */
  packed(): PackedWeight {
    return this.#packed(this.data.dataSync(), this.scales.dataSync(), this.rowSums?.dataSync() ?? null);
  }

  /** packed() for any device: reads the buffers back asynchronously. */
  async packedAsync(): Promise<PackedWeight> {
    return this.#packed(await this.data.data(), await this.scales.data(), this.rowSums ? await this.rowSums.data() : null);
  }

  #packed(words: ArrayLike<number>, scales: ArrayLike<number>, sums: ArrayLike<number> | null): PackedWeight {
    const w = Int32Array.from(words);
    return {
      layout: this.layout,
      bytes: new Uint8Array(w.buffer),
      scales: Float32Array.from(scales),
      rowSums: sums ? Int32Array.from(sums) : null,
    };
  }

  /** The float weight [rows, cols] this stands for, as a new tensor (tests, reports; not used to run). */
  dequantize(): Tensor {
    return tensor(dequantizeWeight(this.packed()), { shape: this.shape, device: this.device });
  }

  /** A copy on another device (this weight if it is already there). */
  to(device: string): QuantizedWeight {
    if (device === this.device) return this;
    return new QuantizedWeight(this.layout, this.data.to(device), this.scales.to(device), this.rowSums?.to(device) ?? null);
  }

  /** Frees the weight's device memory. */
  dispose(): void {
    this.data.dispose();
    this.scales.dispose();
    this.rowSums?.dispose();
  }
}

function checkWeight(weight: Tensor): void {
  if (weight.ndim !== 2) throw new ShapeError('quantize', `a weight to quantize must be 2-D [rows, cols], got ${fmtShape(weight.shape)}`);
  if (weight.dtype !== 'float32' && weight.dtype !== 'float64')
    throw new ValueError('quantize', `a weight to quantize must be float32 or float64, got ${weight.dtype}`);
}

/**
 * A quantized layer's output keeps the graph of its input, but backpropagating through it is an error
 * (as PyTorch's quantized ops have no derivative): a forward needs no noGrad, and no gradient is lost
 * silently.
 */
function inferenceOnly(op: string, out: Tensor, x: Tensor): Tensor {
  return record(out, op, [x], () => {
    throw new AutogradError(
      op,
      'a quantized layer has no gradient: train the float model (or its LoRA adapters) and quantize it afterwards',
    );
  });
}

/** x [..., cols] @ w^T (+ bias [rows]) -> [..., rows] float32: a quantized Linear's forward. */
export function quantizedLinear(x: Tensor, w: QuantizedWeight, bias: Tensor | null = null): Tensor {
  const { rows: N, cols: K } = w.layout;
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== K)
    throw new ShapeError('quantizedLinear', `input ${fmtShape(x.shape)} does not end in the weight's ${K} input features`);
  if (x.dtype !== 'float32') throw new ValueError('quantizedLinear', `input must be float32, got ${x.dtype}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N))
    throw new ShapeError('quantizedLinear', `bias must have shape [${N}], got ${fmtShape(bias.shape)}`);
  for (const t of [w.data, bias])
    if (t && t.device !== x.device)
      throw new DeviceError('quantizedLinear', `the input is on ${x.device} but the quantized weight is on ${t.device}`);
  const lead = x.shape.slice(0, -1);
  const M = lead.reduce((a, b) => a * b, 1);
  const x2 = x.isContiguous() ? reshape(x, [M, K]) : reshape(contiguous(x), [M, K]);
  const b = x.backend;
  const out = dispatchFused('quantMatmul', {
    backend: b,
    eligible: true,
    fused: (kernel) => wrap(b, kernel.forward(b, x2.view_(), w.views(), bias?.view_() ?? null), [M, N], 'float32'),
    reference: () => {
      if (!b.capabilities.syncRead)
        throw new DeviceError('quantizedLinear', `device ${x.device} has no quantMatmul kernel and no synchronous reads for the reference`);
      const y = new Float32Array(M * N);
      quantMatmulReference(x2.dataSync(), M, w.packed(), bias ? bias.dataSync() : null, y);
      return tensor(y, { shape: [M, N], device: x.device });
    },
  });
  return reshape(inferenceOnly('quantizedLinear', out, x2), [...lead, N]);
}

/** ids [...] int32 -> the weight's rows [..., cols], dequantized: a quantized Embedding's forward. */
export function quantizedEmbedding(ids: Tensor, w: QuantizedWeight): Tensor {
  if (ids.dtype !== 'int32') throw new ValueError('embedding', `indices must be int32, got ${ids.dtype}`);
  if (ids.device !== w.device)
    throw new DeviceError('embedding', `the indices are on ${ids.device} but the quantized table is on ${w.device}`);
  const n = ids.size;
  const flat = ids.isContiguous() ? reshape(ids, [n]) : reshape(contiguous(ids), [n]);
  const b = ids.backend;
  const out = dispatchFused('quantRows', {
    backend: b,
    eligible: true,
    fused: (kernel) => wrap(b, kernel.forward(b, w.views(), flat.view_()), [n, w.layout.cols], 'float32'),
    reference: () => {
      if (!b.capabilities.syncRead)
        throw new DeviceError('embedding', `device ${ids.device} has no quantRows kernel and no synchronous reads for the reference`);
      const idx = flat.dataSync();
      for (const r of idx)
        if (r < 0 || r >= w.layout.rows)
          throw new ValueError('embedding', `index ${r} is out of range for a table of ${w.layout.rows} rows`);
      return tensor(dequantizeWeight(w.packed(), idx), { shape: [n, w.layout.cols], device: ids.device });
    },
  });
  return reshape(out, [...ids.shape, w.layout.cols]);
}
