// The file system the tokenizers' load() and save() use, reached when they are called rather than
// imported: a web page bundles the tokenizers (mox/browser's tokenizerFromFiles) and has no node:fs,
// and bundlers for the browser reject a `node:` import outright.

import type * as Fs from 'node:fs';
import type * as Path from 'node:path';
import { DeviceError } from '../errors.js';

function builtin<T>(name: string, op: string): T {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const m = p?.getBuiltinModule?.(name) as T | undefined;
  if (!m)
    throw new DeviceError(
      op,
      `needs Node's ${name}, which this runtime lacks (in a web page, build tokenizers from their files' contents: tokenizerFromFiles)`,
    );
  return m;
}

/** node:fs, or a DeviceError naming `op` where there is none (a web page). */
export const nodeFs = (op = 'tokenizer'): typeof Fs => builtin<typeof Fs>('node:fs', op);
/** node:path, or a DeviceError naming `op` where there is none (a web page). */
export const nodePath = (op = 'tokenizer'): typeof Path => builtin<typeof Path>('node:path', op);
