// Loading and saving mox tensors as safetensors files. The byte format lives in safetensors-format.ts; this
// file adds the file system (with atomic writes) and the conversion to and from Tensor.

import '../ops/tensor-methods.js';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { SafetensorsError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { encodeSafetensors, type RawTensor } from './safetensors-format.js';
import { type LoadedSafetensors, tensorsFromSafetensors } from './safetensors-bytes.js';

export { type LoadedSafetensors, tensorsFromSafetensors } from './safetensors-bytes.js';
import { tempName, writeFileAtomicSync } from './atomic.js';

function checkedTensors(tensors: Record<string, Tensor>): [string, Tensor][] {
  if (typeof tensors !== 'object' || tensors === null) {
    throw new SafetensorsError('safetensors', `expected an object of tensors, got ${tensors === null ? 'null' : typeof tensors}`);
  }
  return Object.keys(tensors).map((name) => {
    const t = tensors[name] as unknown;
    if (typeof t !== 'object' || t === null || typeof (t as Tensor).dataSync !== 'function') {
      throw new SafetensorsError('safetensors', `'${name}' is not a Tensor`);
    }
    return [name, t as Tensor];
  });
}

/** Encodes mox tensors (float32, float64, int32, bool) as safetensors bytes. */
export function safetensorsFromTensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const raw = checkedTensors(tensors).map(([name, x]): [string, RawTensor] => [
    name,
    { dtype: x.dtype, shape: x.shape, data: x.dataSync() },
  ]);
  return encodeSafetensors(Object.fromEntries(raw), metadata);
}

/** safetensorsFromTensors for tensors on any device (GPU memory is read asynchronously). */
export async function safetensorsFromTensorsAsync(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  const raw: [string, RawTensor][] = [];
  for (const [name, x] of checkedTensors(tensors)) raw.push([name, { dtype: x.dtype, shape: x.shape, data: await x.data() }]);
  return encodeSafetensors(Object.fromEntries(raw), metadata);
}

function readError(file: string, e: unknown): SafetensorsError {
  return new SafetensorsError('safetensors', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
}

function writeError(file: string, e: unknown): SafetensorsError {
  return new SafetensorsError('safetensors', `cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`);
}

/** Reads a safetensors file (Hugging Face's format) into tensors and metadata. */
export async function loadSafetensors(file: string): Promise<LoadedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  return tensorsFromSafetensors(bytes, file);
}

/** loadSafetensors(), synchronously. */
export function loadSafetensorsSync(file: string): LoadedSafetensors {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw readError(file, e);
  }
  return tensorsFromSafetensors(bytes, file);
}

/** A fresh name next to `file`, so the final rename stays on one file system and is atomic. */

/**
 * Writes the file under a temporary name, flushes it to disk and renames it into place, so a crash
 * leaves either the old file or the complete new one, never half of one.
 */
export async function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  const bytes = await safetensorsFromTensorsAsync(tensors, metadata);
  const tmp = tempName(file);
  try {
    const handle = await fsp.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(file, e);
  }
}

/** saveSafetensors(), synchronously. */
export function saveSafetensorsSync(file: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  const bytes = safetensorsFromTensors(tensors, metadata);
  try {
    writeFileAtomicSync(file, bytes);
  } catch (e) {
    throw writeError(file, e);
  }
}
