// File helpers for checkpoint and run folders: an atomic write and a JSON read whose failures are
// DataErrors naming the file, so a CLI user sees which file is missing, unreadable or malformed.

import * as fs from 'node:fs';
import { DataError } from '../errors.js';
import { writeFileAtomicSync } from './atomic.js';

/** Writes bytes or text to `file` atomically (temporary name, fsync, rename). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  try {
    writeFileAtomicSync(file, data);
  } catch (e) {
    throw new DataError('checkpoint', `cannot write ${file}: ${(e as Error).message}`);
  }
}

/** Reads and parses a JSON file, with a clear error for a missing or malformed one. */
export function readJson(file: string, what = 'checkpoint'): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(
      what,
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new DataError(what, `${file} is not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(what, `${file} must hold a JSON object`);
  return v as Record<string, unknown>;
}
