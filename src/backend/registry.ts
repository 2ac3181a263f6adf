// Which backend new tensors are created on. The CPU backend is always there; others register
// themselves (WebGPU) and become selectable by name.

import { ValueError } from '../errors.js';
import type { Backend } from './backend.js';
import { cpuBackend } from './cpu/cpu-backend.js';

const backends = new Map<string, Backend>([['cpu', cpuBackend]]);
let current: Backend = cpuBackend;

export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
}

export function getBackend(name?: string): Backend {
  if (name === undefined) return current;
  const b = backends.get(name);
  if (!b) throw new ValueError('backend', `unknown device '${name}' (available: ${[...backends.keys()].join(', ')})`);
  return b;
}

/** Makes `name` the device new tensors are created on (PyTorch's torch.set_default_device). */
export function setDevice(name: string): void {
  current = getBackend(name);
}

export function listDevices(): string[] {
  return [...backends.keys()];
}
