// Reference-counted device memory shared by every view of a tensor. The buffer goes back to its
// backend when the last tensor viewing it is disposed (or collected, via the FinalizationRegistry in
// memory.ts). Live counts feed `mox.memory()`, which tests use to prove a training loop holds steady.

import type { Backend, Buffer } from '../backend/backend.js';
import { bytesPerElement, type DType } from '../base/dtype.js';

export const memoryStats = { tensors: 0, storages: 0, bytes: 0 };

export class Storage {
  private refs = 0;
  readonly bytes: number;
  constructor(
    readonly backend: Backend,
    readonly buf: Buffer,
    readonly dtype: DType,
    readonly size: number,
  ) {
    this.bytes = size * bytesPerElement(dtype);
    memoryStats.storages++;
    memoryStats.bytes += this.bytes;
  }
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) {
      this.backend.free(this.buf);
      memoryStats.storages--;
      memoryStats.bytes -= this.bytes;
    }
  }
}
