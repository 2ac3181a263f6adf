// A training text as a command reads it (`--data FILE [--encoding E]`): the path made absolute once, so
// a checkpoint that records it can be resumed from any working directory, and the bytes decoded as
// strict UTF-8 unless another encoding is named. A binary file or text in another encoding is refused
// with the offset of the first byte at fault, never trained on as a stream of U+FFFD.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, ValueError } from '../../errors.js';

/** The data file as a checkpoint stores it: absolute, resolved against the working directory of the command that named it. */
export function resolveDataPath(file: string, base: string = process.cwd()): string {
  return path.resolve(base, file);
}

/**
 * The canonical name of an --encoding (any WHATWG label: utf-8, latin1 (= windows-1252), utf-16le,
 * iso-8859-2, ...), or a ValueError naming the flag and the value.
 */
export function textEncodingName(op: string, label: string): string {
  try {
    return new TextDecoder(label).encoding;
  } catch {
    throw new ValueError(op, `--encoding '${label}' is not a known text encoding (e.g. utf-8, latin1, windows-1252, utf-16le)`);
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    if (i + n >= b.length) return i; // a sequence cut off by the end of the file
    for (let k = 1; k <= n; k++) {
      const d = b[i + k]!;
      if (d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}

/**
 * Reads a text file. Without an encoding the bytes must be UTF-8 (a byte-order mark is dropped) and hold
 * no NUL byte (a binary file, or UTF-16); otherwise a DataError says where the first bad byte is and
 * which flag reads another encoding. With an encoding, the bytes are decoded as that encoding.
 */
export function readTextFile(op: string, file: string, encoding?: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      op,
      `cannot read the data file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message}`,
    );
  }
  if (encoding !== undefined) return new TextDecoder(textEncodingName(op, encoding)).decode(bytes);
  const hint = 'if it is text in another encoding, give --encoding (e.g. latin1, windows-1252, utf-16le)';
  const bad = firstInvalidUtf8(bytes);
  if (bad >= 0) {
    const hex = Array.from(bytes.subarray(bad, bad + 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
    throw new DataError(
      op,
      `${file} is not UTF-8 text: the bytes at offset ${bad} (${hex}) are not valid UTF-8` +
        `${bytes.includes(0) ? '; with its NUL bytes it looks like a binary file' : ''}; ${hint}`,
    );
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0)
    throw new DataError(op, `${file} is not UTF-8 text: it holds a NUL byte at offset ${nul} (a binary file, or UTF-16); ${hint}`);
  return new TextDecoder('utf-8').decode(bytes);
}

/** Where a training command's text comes from, as its flags say: --dataset NAME, or --data FILE [--encoding E]. */
export interface DataFlags {
  dataset?: string;
  data?: string;
  encoding?: string;
}

/**
 * Reads and checks --dataset, --data and --encoding for the training command `cmd` ('train gpt'):
 * one of the two sources (none when resuming: the checkpoint knows), --encoding only with a file, and
 * the encoding's name known. Mistakes are usage errors, made by `bad`.
 */
export function dataFlags(
  cmd: string,
  values: Readonly<Record<string, unknown>>,
  resume: boolean,
  bad: (message: string) => Error,
): DataFlags {
  const dataset = values['dataset'] as string | undefined;
  const data = values['data'] as string | undefined;
  if (dataset !== undefined && data !== undefined) throw bad(`${cmd}: give --dataset or --data, not both`);
  const encodingFlag = values['encoding'] as string | undefined;
  if (encodingFlag !== undefined && data === undefined) throw bad(`${cmd}: --encoding goes with --data FILE`);
  let encoding: string | undefined;
  try {
    encoding = encodingFlag === undefined ? undefined : textEncodingName(cmd, encodingFlag);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (!resume && dataset === undefined && data === undefined) throw bad(`${cmd}: give --dataset tinyshakespeare or --data FILE`);
  if (dataset !== undefined && dataset !== 'tinyshakespeare')
    throw bad(`--dataset must be tinyshakespeare (or use --data FILE), got '${dataset}'`);
  return { dataset, data, encoding };
}
