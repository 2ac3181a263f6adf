// Indexing kernels in WGSL: gather, scatter-add, index_select, index_add.

import type { View } from '../../backend.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';
import type { GpuBuffer } from './common.js';

export function gather(_engine: Engine, _x: View, _dim: number, _idx: View): GpuBuffer {
  throw new DeviceError('gather', 'not implemented on webgpu yet');
}
export function scatterAdd(_engine: Engine, _base: View, _dim: number, _idx: View, _src: View): GpuBuffer {
  throw new DeviceError('scatterAdd', 'not implemented on webgpu yet');
}
export function indexSelect(_engine: Engine, _x: View, _dim: number, _idx: View): GpuBuffer {
  throw new DeviceError('indexSelect', 'not implemented on webgpu yet');
}
export function indexAdd(_engine: Engine, _shape: readonly number[], _dim: number, _idx: View, _src: View): GpuBuffer {
  throw new DeviceError('indexAdd', 'not implemented on webgpu yet');
}
