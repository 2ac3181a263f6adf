// Reference-counted device memory shared by every view of a tensor. The buffer goes back to its
// backend when the last tensor viewing it is disposed (or collected, via the FinalizationRegistry in
// memory.ts). Live counts feed `mox.memory()`, which tests use to prove a training loop holds steady.

import type { Backend, Buffer } from '../backend/backend.js';
import { bytesPerElement, type DType } from '../base/dtype.js';

/** Live tensors, storages and bytes of one device (or of all of them: `memoryStats`). */
export interface DeviceMemoryStats {
  tensors: number;
  storages: number;
  bytes: number;
}

export const memoryStats: DeviceMemoryStats = { tensors: 0, storages: 0, bytes: 0 };

/** Per device name: its counts and the first backend seen under that name (asked for its heap). */
export const deviceStats = new Map<string, { stats: DeviceMemoryStats; backend: Backend }>();

function statsOf(backend: Backend): DeviceMemoryStats {
  let e = deviceStats.get(backend.name);
  if (!e) deviceStats.set(backend.name, (e = { stats: { tensors: 0, storages: 0, bytes: 0 }, backend }));
  return e.stats;
}

export class Storage {
  private refs = 0;
  readonly bytes: number;
  /** The counts of this storage's device, which its tensors update too. */
  readonly stats: DeviceMemoryStats;
  constructor(
    readonly backend: Backend,
    readonly buf: Buffer,
    readonly dtype: DType,
    readonly size: number,
  ) {
    this.bytes = size * bytesPerElement(dtype);
    this.stats = statsOf(backend);
    memoryStats.storages++;
    memoryStats.bytes += this.bytes;
    this.stats.storages++;
    this.stats.bytes += this.bytes;
  }
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (--this.refs === 0) {
      this.backend.free(this.buf);
      memoryStats.storages--;
      memoryStats.bytes -= this.bytes;
      this.stats.storages--;
      this.stats.bytes -= this.bytes;
    }
  }
}
