// The fused Adam/AdamW update in WGSL: param, m, v (and vmax) updated in place in one pass.

import type { AdamHyper, View } from '../../backend.js';
import { DeviceError } from '../../../errors.js';
import type { Engine } from '../engine.js';

export function adamUpdate(_engine: Engine, _param: View, _grad: View, _m: View, _v: View, _h: AdamHyper, _vmax?: View | null): void {
  throw new DeviceError('adamUpdate', 'not implemented on webgpu yet');
}
