// Batched matmul in WGSL: a tiled, register-blocked kernel over strided operands.

import type { MatmulEpilogue, View } from '../../backend.js';
import type { DType } from '../../../tensor/dtype.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';
import type { GpuBuffer } from './common.js';

export function matmul(_engine: Engine, _a: View, _b: View, _outDtype: DType, _epilogue?: MatmulEpilogue): GpuBuffer {
  throw new DeviceError('matmul', 'not implemented on webgpu yet');
}
