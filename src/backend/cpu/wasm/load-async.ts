// The WebAssembly kernels for a web page. A page cannot read the .wasm file synchronously, as the
// CPU backend does in Node (loader.ts), so it fetches and compiles it first, asynchronously, and
// hands the module in; the backend then starts on it at its first tensor. This needs shared memory,
// which a browser gives only to a cross-origin isolated page (COOP same-origin + COEP require-corp);
// the page's CPU runs on one thread (no worker_threads there).

import { DeviceError } from '../../../errors.js';
import { provideKernels, type KernelKind } from './loader.js';
import { wasmRuntimeStarted } from './runtime.js';

/** Where the two builds of the kernel module are (dist/wasm/'s files, served by the page's server). */
export interface WasmKernelURLs {
  /** mox-relaxed.wasm: relaxed SIMD, tried first. */
  relaxed?: string | URL;
  /** mox-simd.wasm: plain SIMD. */
  simd?: string | URL;
}

/**
 * Fetches and compiles the best kernel module this browser validates (relaxed SIMD, then SIMD) and
 * makes the CPU backend run on it. Call it before the first tensor is made. Returns the kind loaded,
 * or null with the reason where none can run (no shared memory: the page is not cross-origin
 * isolated; no WebAssembly SIMD; a file that does not load), leaving the TypeScript kernels.
 */
export async function loadWasmKernels(urls: WasmKernelURLs): Promise<{
  /** The kernels compiled ('relaxed-simd' or 'simd'), or null when neither could be used. */
  kind: KernelKind | null;
  /** Why no kernels were loaded, when kind is null. */
  reason?: string;
}> {
  if (wasmRuntimeStarted())
    throw new DeviceError('loadWasmKernels', 'the CPU backend has already started: call loadWasmKernels before making the first tensor');
  if (typeof SharedArrayBuffer === 'undefined')
    return { kind: null, reason: 'no SharedArrayBuffer: the page is not cross-origin isolated (COOP same-origin, COEP require-corp)' };
  const reasons: string[] = [];
  for (const [kind, url] of [
    ['relaxed-simd', urls.relaxed],
    ['simd', urls.simd],
  ] as const) {
    if (url === undefined) continue;
    try {
      const r = await fetch(url);
      if (!r.ok) throw new Error(`GET ${String(url)}: ${r.status}`);
      const bytes = new Uint8Array(await r.arrayBuffer());
      if (!WebAssembly.validate(bytes)) throw new Error(`${String(url)}: this engine does not validate it`);
      provideKernels({ kind, module: await WebAssembly.compile(bytes) });
      return { kind };
    } catch (e) {
      reasons.push(`${kind}: ${(e as Error).message}`);
    }
  }
  return { kind: null, reason: reasons.join('; ') || 'no URL given' };
}
