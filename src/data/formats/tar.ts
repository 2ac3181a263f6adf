// A small reader for tar archives (POSIX ustar, with GNU long names and pax path records), enough
// to take the members out of a dataset tarball such as cifar-10-binary.tar.gz with no dependency.

import { DataError } from '../../errors.js';
import { isGzip, gunzip } from './file.js';

/** One member of a tar archive. */
export interface TarEntry {
  /** Path inside the archive. */
  name: string;
  /** What the member is. */
  type: 'file' | 'directory' | 'other';
  /** Size in bytes. */
  size: number;
  /** The member's bytes (a view into the archive). */
  data: Uint8Array;
}

const BLOCK = 512;

function cString(b: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && b[end] !== 0) end++;
  return new TextDecoder().decode(b.subarray(start, end));
}

function octal(b: Uint8Array, start: number, len: number): number {
  if (b[start]! & 0x80) {
    // base-256 (GNU) for sizes of 8 GiB and more
    let v = b[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cString(b, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** The entries of a tar archive (inflated first when the bytes are gzip). */
export function readTar(bytes: Uint8Array, name = 'tar archive'): TarEntry[] {
  if (isGzip(bytes)) bytes = gunzip('tar', name, bytes);
  const fail = (msg: string): never => {
    throw new DataError('tar', `${name}: ${msg}`);
  };
  const entries: TarEntry[] = [];
  let at = 0;
  let longName: string | null = null;
  while (at < bytes.length) {
    if (at + BLOCK > bytes.length) {
      if (bytes.subarray(at).every((v) => v === 0)) break;
      fail(`the archive ends inside the header at byte ${at} (truncated)`);
    }
    const h = bytes.subarray(at, at + BLOCK);
    if (h.every((v) => v === 0)) break; // end-of-archive marker
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    const stored = octal(h, 148, 8);
    if (stored !== sum) fail(`the header at byte ${at} has a bad checksum (not a tar archive, or corrupt)`);
    const size = octal(h, 124, 12);
    if (!Number.isFinite(size) || size < 0) fail(`the header at byte ${at} has a bad size field`);
    const flag = String.fromCharCode(h[156]!);
    let path = cString(h, 0, 100);
    if (cString(h, 257, 5) === 'ustar') {
      const prefix = cString(h, 345, 155);
      if (prefix) path = `${prefix}/${path}`;
    }
    const start = at + BLOCK;
    if (start + size > bytes.length)
      fail(`member '${longName ?? path}' declares ${size} bytes but the archive ends after ${bytes.length - start}`);
    const data = bytes.subarray(start, start + size);
    at = start + Math.ceil(size / BLOCK) * BLOCK;
    if (flag === 'L') {
      longName = cString(data, 0, data.length);
      continue;
    }
    if (flag === 'x') {
      const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(data));
      if (m) longName = m[1]!;
      continue;
    }
    if (flag === 'g') continue;
    if (longName !== null) {
      path = longName;
      longName = null;
    }
    const type = flag === '0' || flag === '\0' || flag === '7' ? 'file' : flag === '5' ? 'directory' : 'other';
    entries.push({ name: path, type, size, data });
  }
  return entries;
}

/** Writes a ustar archive of the given files (used by tests and by anyone packing a dataset). */
export function writeTar(files: readonly { name: string; data: Uint8Array }[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    const h = new Uint8Array(BLOCK);
    const put = (s: string, start: number): void => {
      h.set(enc.encode(s), start);
    };
    if (enc.encode(f.name).length > 100) throw new DataError('tar', `member name longer than 100 bytes: ${f.name}`);
    put(f.name, 0);
    put('0000644\0', 100);
    put('0000000\0', 108);
    put('0000000\0', 116);
    put(f.data.length.toString(8).padStart(11, '0') + '\0', 124);
    put('00000000000\0', 136);
    put('        ', 148);
    put('0', 156);
    put('ustar\0', 257);
    put('00', 263);
    let sum = 0;
    for (const v of h) sum += v;
    put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(h);
    const padded = new Uint8Array(Math.ceil(f.data.length / BLOCK) * BLOCK);
    padded.set(f.data);
    blocks.push(padded);
  }
  blocks.push(new Uint8Array(2 * BLOCK));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}
