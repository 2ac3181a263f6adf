// Row kernels in WGSL (one workgroup per row): softmax / log-softmax, layer norm and its backward,
// cross-entropy with logits and its backward.

import type { View } from '../../backend.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';
import type { GpuBuffer } from './common.js';

export function softmax(_engine: Engine, _x: View, _axis: number, _log: boolean): GpuBuffer {
  throw new DeviceError('softmax', 'not implemented on webgpu yet');
}
export function layerNorm(_engine: Engine, _x: View, _weight: View | null, _bias: View | null, _eps: number): { y: GpuBuffer; mean: GpuBuffer; rstd: GpuBuffer } {
  throw new DeviceError('layerNorm', 'not implemented on webgpu yet');
}
export function layerNormBackward(_engine: Engine, _g: View, _x: View, _mean: View, _rstd: View, _weight: View | null, _withBias: boolean):
  { dx: GpuBuffer; dweight: GpuBuffer | null; dbias: GpuBuffer | null } {
  throw new DeviceError('layerNormBackward', 'not implemented on webgpu yet');
}
export function crossEntropy(_engine: Engine, _logits: View, _target: View, _ignoreIndex: number, _labelSmoothing: number): { loss: GpuBuffer; lse: GpuBuffer } {
  throw new DeviceError('crossEntropy', 'not implemented on webgpu yet');
}
export function crossEntropyBackward(_engine: Engine, _gout: View, _logits: View, _target: View, _lse: View, _ignoreIndex: number, _labelSmoothing: number): GpuBuffer {
  throw new DeviceError('crossEntropyBackward', 'not implemented on webgpu yet');
}
