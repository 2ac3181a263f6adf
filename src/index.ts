// mox: deep learning in TypeScript. The public surface, in PyTorch's shape:
//   import * as mox from 'mox';
//   const x = mox.randn([64, 784]);  mox.nn.functional.relu(x);  loss.backward();
// This is the Node entry point; `mox/browser` (browser.ts) is the one for web pages.

/**
 * mox for Node.js (`import * as mox from 'mox'`): tensors with autograd, layers, optimizers, the Keras-style
 * training loop, datasets, tokenizers, ready models, LoRA, pruning, quantization and ONNX export.
 * @module mox
 */

import './ops/tensor-methods.js'; // installs Tensor's chainable methods (x.add(y).sum()) before anything runs
export * from './core.js';

export { saveSafetensors, saveSafetensorsSync, loadSafetensors, loadSafetensorsSync } from './io/safetensors.js';

/** Dataset, DataLoader, transforms and augmentation, file readers (IDX, CIFAR-10, CSV, text) and named datasets. */
export * as data from './data/index.js';

/** The Keras-style loop (model.compile/fit/evaluate/predict, installed on every nn.Module), callbacks and metrics. */
export * as train from './train/index.js';

/** Run reports: an HTML page (charts as inline SVG) and PNG charts from run folders' metrics.jsonl; vega loads on first use. */
export * as report from './report/index.js';

/** Tokenizers: character-level, GPT-2's byte-level BPE (loaded from encoder.json + vocab.bpe, or trained), word-level. */
export * as text from './text/index.js';

/** Complete models: GPT (nanoGPT's, with generate() and a KV cache) and its checkpoint folders, the LSTM language model, TextCNN, ViT. */
export * as models from './models/index.js';

/** LoRA adapters (parameter-efficient fine-tuning), saved and loaded in Hugging Face PEFT's layout. */
export * as lora from './adapters/index.js';

/** Pruning, as torch.nn.utils.prune: magnitude masks (per layer, global), structured shrinking of a Sequential, a GPT's attention heads (as Hugging Face's prune_heads), a gradual schedule for fit. */
export * as prune from './prune/index.js';

/** ONNX export (opset 17) of the MLP, the CNN, the text CNN and the GPT: mox.onnx.exportONNX(model), mox.onnx.saveONNX(model, file). */
export * as onnx from './onnx/index.js';

/** Training across processes: data parallelism on one machine (DataParallel; fit's `dataParallel`), as PyTorch's DDP. */
export * as distributed from './distributed/index.js';

/** Quantization: int8 and int4 weights (llama.cpp's Q4_0 groups) and dynamic int8, with WebAssembly and WGSL kernels. */
export * as quant from './quant/index.js';
/** Quantizes a model's Linear and Embedding layers in place: mox.quantize(model, { scheme: 'int8' | 'int4' | 'dynamic-int8' }). */
export { quantize } from './quant/quantize.js';

/** Federated averaging (McMahan et al. 2017) in Flower's shape: clients in-process or over HTTP, FedAvg, runFederated. */
export * as federated from './serve/federated.js';
