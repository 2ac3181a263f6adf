// Reading a data file into bytes: a missing file is a DataError naming it, and gzip data (magic
// 1f 8b) is inflated with node:zlib, so every reader takes `x` and `x.gz` alike.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from '../../errors.js';

/** True when the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Inflates gzip data; a corrupt or truncated stream is a DataError naming `name`. */
export function gunzip(op: string, name: string, bytes: Uint8Array): Uint8Array {
  try {
    const out = gunzipSync(bytes);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new DataError(op, `${name}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
}

/** The file's bytes, inflated when they are gzip. */
export function readBytes(op: string, path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(op, code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read (${(e as Error).message})`);
  }
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return isGzip(bytes) ? gunzip(op, path, bytes) : bytes;
}
