// A safetensors file's bytes as mox tensors, with no file system: what both the Node loaders
// (safetensors-tensors.ts) and a web page (fetched bytes) use.

import '../ops/tensor-methods.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';
import { decodeEntry, parseSafetensors } from './safetensors-format.js';

/**
 * A safetensors file read back: its tensors by name and its string metadata.
 * @inline
 */
export interface LoadedSafetensors {
  /** The tensors by name. */
  tensors: Record<string, Tensor>;
  /** The file's string metadata (__metadata__). */
  metadata: Record<string, string>;
}

/** Parses a safetensors file's bytes into mox tensors (each owns a copy of its data). */
export function tensorsFromSafetensors(bytes: Uint8Array, source?: string): LoadedSafetensors {
  const { metadata, entries } = parseSafetensors(bytes, source);
  const pairs: [string, Tensor][] = [];
  for (const [name, entry] of entries) {
    const { dtype, data } = decodeEntry(entry, name, source);
    pairs.push([name, tensor(data, { shape: entry.shape.slice(), dtype })]);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" is stored like any other.
  return { tensors: Object.fromEntries(pairs), metadata };
}
