// Which backend new tensors are created on. The CPU backend is always there; others register
// themselves (WebGPU) and become selectable by name.

import { DeviceError, ValueError } from '../errors.js';
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/cpu-backend.js';
import { openWebGPU } from './webgpu/webgpu-backend.js';
import type { WebGPUOptions } from './webgpu/gpu.js';
// each device's fused kernels, registered by name (fused.ts) when the device's code loads
import './cpu/fused-kernels.js';
import './webgpu/fused-kernels.js';

const backends = new Map<string, Backend>([['cpu', cpuBackend]]);
let current: Backend = cpuBackend;

/** Adds a device implementation under its name (replacing one of that name). */
export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

/** The backend of a device by name, or of the current device. */
export function getBackend(name?: string): Backend {
  if (name === undefined) return current;
  const b = backends.get(name);
  if (!b && name === 'webgpu')
    throw new DeviceError('webgpu', "the GPU is not open yet: call await mox.initDevice('webgpu') first (opening a GPU is asynchronous)");
  if (!b) throw new ValueError('backend', `unknown device '${name}' (available: ${[...backends.keys()].join(', ')})`);
  return b;
}

/** Makes `name` the device new tensors are created on (PyTorch's torch.set_default_device). */
export function setDevice(name: string): void {
  current = getBackend(name);
}

/** Names of the devices open now, e.g. ['cpu', 'webgpu']. */
export function listDevices(): string[] {
  return [...backends.keys()];
}

/**
 * Opens a device and registers it (once; later calls return at once): 'cpu' is always open, 'webgpu'
 * finds a GPU through navigator.gpu or the npm package `webgpu`. Rejects with a DeviceError when there
 * is none.
 */
export async function initDevice(name: string, opts: WebGPUOptions = {}): Promise<Backend> {
  const known = backends.get(name);
  if (known) return known;
  if (name !== 'webgpu') return getBackend(name);
  const b = await openWebGPU(opts);
  registerBackend(b);
  return b;
}

/** Resolves when every kernel queued on the device (default: the current one) has finished. */
export async function sync(name?: string): Promise<void> {
  await getBackend(name).sync();
}

/**
 * Frees the memory a device keeps pooled for reuse (PyTorch's torch.cuda.empty_cache): on the GPU the
 * buffers of freed tensors wait in a pool for the next tensor of their size. Live tensors are untouched.
 */
export function emptyCache(name?: string): void {
  getBackend(name).emptyCache();
}
