// `mox inspect FILE.safetensors`: the metadata and a table of the tensors in a safetensors file,
// read through the same validating parser as mox.loadSafetensors. With --values, each tensor's values
// too, printed like PyTorch prints them.

import '../../ops/tensor-methods.js';
import * as fs from 'node:fs';
import { SafetensorsError } from '../../errors.js';
import { parseSafetensors, decodeEntry } from '../../io/safetensors.js';
import { tensor } from '../../tensor/create.js';
import { scope } from '../../tensor/memory.js';

export function runInspect(file: string, opts: { values?: boolean }, log: (line: string) => void = console.log): void {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new SafetensorsError('safetensors', `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { metadata, entries } = parseSafetensors(bytes, file);
  const headerBytes = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));

  log(`${file}: ${bytes.length} bytes (header ${headerBytes}), ${entries.size} tensor${entries.size === 1 ? '' : 's'}`);
  const metaKeys = Object.keys(metadata);
  if (metaKeys.length > 0) {
    log('');
    log('metadata:');
    const w = Math.max(...metaKeys.map((k) => k.length));
    for (const k of metaKeys) log(`  ${k.padEnd(w)}  ${metadata[k]}`);
  }
  if (entries.size === 0) return;

  const rows = [...entries].map(([name, e]) => [name, e.dtype, `[${e.shape.join(', ')}]`, String(e.data.length)]);
  const head = ['name', 'dtype', 'shape', 'bytes'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((v, c) => (c === 3 ? v.padStart(widths[c]!) : v.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  log('');
  log(`  ${fmt(head)}`);
  log(`  ${fmt(widths.map((w) => '-'.repeat(w)))}`);
  for (const r of rows) log(`  ${fmt(r)}`);
  let total = 0;
  for (const e of entries.values()) total += e.data.length;
  log(`  total: ${total} bytes of tensor data (${humanBytes(total)})`);

  if (opts.values) {
    for (const [name, entry] of entries) {
      const { dtype, data } = decodeEntry(entry, name);
      log('');
      log(`${name} (${entry.dtype}):`);
      scope(() => log(String(tensor(data, { shape: entry.shape, dtype }))));
    }
  }
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
