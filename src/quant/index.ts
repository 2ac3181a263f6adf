// mox.quant: int8 / int4 / dynamic-int8 quantization of Linear and Embedding layers (quantize, in
// place), the quantized layers, and the weight format with its host arithmetic. See docs/quantization.md.

import '../ops/tensor-methods.js';

export { quantize, quantizationInfo, quantizedScheme, isQuantized, type QuantizeOptions, type QuantizationInfo } from './quantize.js';
export { QuantizedLinear, QuantizedEmbedding } from './layers.js';
export { QuantizedWeight, quantizedLinear, quantizedEmbedding } from '../ops/quant.js';
export {
  INT4_GROUP,
  QUANT_SCHEMES,
  dequantizeWeight,
  quantLayout,
  quantMatmulReference,
  quantizeWeight,
  type PackedWeight,
  type QuantLayout,
  type QuantScheme,
} from '../backend/quant-format.js';
