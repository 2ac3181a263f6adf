// mox for web pages: `import * as mox from 'mox/browser'` (through a bundler). Everything of the Node
// entry that needs no file system: tensors, ops, autograd, nn, optim, the models, and the devices --
// the CPU (TypeScript kernels on one thread: a page cannot read the .wasm file synchronously) and the
// GPU through navigator.gpu (`await mox.initDevice('webgpu')`). A cross-origin isolated page can run
// the CPU on the WebAssembly SIMD kernels (one thread): `await mox.loadWasmKernels({...})` first.

/**
 * mox for web pages (`import * as mox from 'mox/browser'`): what needs no file system, on the CPU or on the
 * GPU through WebGPU.
 * @module mox/browser
 */

import './ops/tensor-methods.js'; // installs Tensor's chainable methods (x.add(y).sum()) before anything runs
export * from './core.js';

/** GPT (with generate/generateAsync and a KV cache), the LSTM language model and the text CNN. */
export * as models from './models/portable.js';

/** Tokenizers built from their files' contents (tokenizerFromFiles), for a GPT checkpoint fetched by a page. */
export * as text from './text/portable.js';

/** Fetches and compiles the WebAssembly kernels for the CPU backend (before the first tensor). */
export { loadWasmKernels, type WasmKernelURLs } from './backend/cpu/wasm/load-async.js';
