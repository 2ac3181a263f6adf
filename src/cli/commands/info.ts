// `mox info`: what this mox is and what it runs on.

import * as mox from '../../index.js';

export async function runInfo(version: string, log: (line: string) => void = console.log): Promise<void> {
  const { device, kernels, native, nativeLevels, wasm, threads } = mox.backendInfo();
  const mem = mox.memory();
  log(`mox ${version}`);
  log(`node ${process.versions.node} (${process.platform}-${process.arch})`);
  log(`device: ${device}, kernels: ${kernels}${threads ? `, ${threads} threads` : ''}`);
  if (wasm && nativeLevels) {
    log(`cpu kernels: native ${native} (this CPU runs ${nativeLevels}; MOX_CPU_KERNELS picks one), WebAssembly ${wasm} for the rest`);
  } else if (wasm) {
    log(`cpu kernels: WebAssembly ${wasm}; native ${native}`);
  }
  log(`devices registered: ${mox.listDevices().join(', ')}`);
  try {
    const gpu = await mox.initDevice('webgpu');
    log(`webgpu: ${String(gpu.info?.().adapter ?? 'available')}`);
  } catch (e) {
    log(`webgpu: not available (${(e as Error).message.replace(/^webgpu: /, '')})`);
  }
  log(`live memory: ${mem.numTensors} tensors, ${mem.numStorages} storages, ${mem.numBytes} bytes`);
}
