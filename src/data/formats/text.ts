// Plain text files (gzip or not) as one string or a list of lines, decoded as UTF-8 (default) or
// Windows-1252 (formats/windows-1252.ts; older corpora such as rt-polarity).

import { readBytes } from './file.js';
import { decodeWindows1252 } from './windows-1252.js';

/** A text encoding readText decodes: UTF-8 or Windows-1252. */
export type TextEncoding = 'utf-8' | 'windows-1252';

/** Options of readText: the encoding. */
export interface ReadTextOptions {
  /** How the bytes are decoded (default 'utf-8'; a leading byte-order mark is dropped). */
  encoding?: TextEncoding;
}

/** The whole file as a string. */
export function readText(path: string, op = 'text', opts: ReadTextOptions = {}): string {
  const bytes = readBytes(op, path);
  if (opts.encoding === 'windows-1252') return decodeWindows1252(bytes);
  const text = new TextDecoder('utf-8').decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The file's lines without their \n or \r\n; a final newline does not add an empty line. */
export function readLines(path: string, opts: { skipEmpty?: boolean } & ReadTextOptions = {}): string[] {
  const text = readText(path, 'text', opts);
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return opts.skipEmpty ? lines.filter((l) => l.trim() !== '') : lines;
}
