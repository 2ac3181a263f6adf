// Sliding-window kernels in WGSL: im2col / col2im (conv2d and its gradients) and max / average pooling.

import type { AvgPoolDivisor, View, Window2d } from '../../backend.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';
import type { GpuBuffer } from './common.js';

export function im2col(_engine: Engine, _x: View, _w: Window2d, _outH: number, _outW: number, _padValue: number, _batchInColumns?: boolean): GpuBuffer {
  throw new DeviceError('im2col', 'not implemented on webgpu yet');
}
export function col2im(_engine: Engine, _cols: View, _w: Window2d, _channels: number, _h: number, _width: number, _outH: number, _outW: number): GpuBuffer {
  throw new DeviceError('col2im', 'not implemented on webgpu yet');
}
export function maxPool2d(_engine: Engine, _x: View, _w: Window2d, _outH: number, _outW: number): { out: GpuBuffer; argmax: GpuBuffer } {
  throw new DeviceError('maxPool2d', 'not implemented on webgpu yet');
}
export function maxPool2dBackward(_engine: Engine, _g: View, _argmax: View, _inShape: readonly number[]): GpuBuffer {
  throw new DeviceError('maxPool2dBackward', 'not implemented on webgpu yet');
}
export function avgPool2d(_engine: Engine, _x: View, _w: Window2d, _outH: number, _outW: number, _div: AvgPoolDivisor): GpuBuffer {
  throw new DeviceError('avgPool2d', 'not implemented on webgpu yet');
}
export function avgPool2dBackward(_engine: Engine, _g: View, _w: Window2d, _inShape: readonly number[], _div: AvgPoolDivisor): GpuBuffer {
  throw new DeviceError('avgPool2dBackward', 'not implemented on webgpu yet');
}
