// Plain text files (gzip or not) as one string or a list of lines, decoded as UTF-8.

import { readBytes } from './file.js';

/** The whole file as a string. */
export function readText(path: string, op = 'text'): string {
  const text = new TextDecoder('utf-8').decode(readBytes(op, path));
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The file's lines without their \n or \r\n; a final newline does not add an empty line. */
export function readLines(path: string, opts: { skipEmpty?: boolean } = {}): string[] {
  const text = readText(path);
  if (text === '') return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return opts.skipEmpty ? lines.filter((l) => l.trim() !== '') : lines;
}
