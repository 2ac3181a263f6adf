// Reductions in WGSL (sum, prod, max, min, argmax, argmin over any axes).

import type { ReduceOp, View } from '../../backend.js';
import type { DType } from '../../../tensor/dtype.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';
import type { GpuBuffer } from './common.js';

export function reduce(_engine: Engine, _op: ReduceOp, _x: View, _axes: readonly number[], _outDtype: DType): GpuBuffer {
  throw new DeviceError('reduce', 'not implemented on webgpu yet');
}
