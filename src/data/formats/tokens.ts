// Token files: the ids of a tokenized text as one flat little-endian array, uint16 when every id fits
// (nanoGPT's train.bin, which np.memmap(file, dtype=np.uint16) reads) else uint32, with FILE.json
// beside it saying the dtype, the count, the vocabulary, the tokenizer, the text it came from and the
// bin's sha256. `mox tokenize --out-bin` writes them for PyTorch (python/mox_torch/train.py); each
// file is written under a temporary name and renamed, the bin first, so a FILE.json never describes
// a half-written bin.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { DataError, ValueError, showValue } from '../../errors.js';
import { writeFileAtomicSync } from '../../io/atomic.js';

/** The element type of a token file. */
export type TokenDType = 'uint16' | 'uint32';

/** What FILE.json says about a token file. */
export interface TokenFileInfo {
  /** Always "mox-tokens". */
  format: 'mox-tokens';
  /** The format's version: 1. */
  version: 1;
  /** The ids' element type: uint16 when every id fits, else uint32. */
  dtype: TokenDType;
  /** Always "little" (little-endian, as numpy's '<u2' and '<u4'). */
  byte_order: 'little';
  /** One more than the largest id the tokenizer makes. */
  vocab_size: number;
  /** The number of tokens (the bin holds count * 2 or count * 4 bytes). */
  count: number;
  /** The tokenizer: its kind ('char', 'bpe', 'word') and the folder or name it was loaded from. */
  tokenizer: {
    /** The tokenizer's kind: 'char', 'bpe' or 'word'. */
    kind: string;
    /** The folder or name it was loaded from. */
    source: string;
  };
  /** The text file the tokens came from ('-' for stdin). */
  source: string;
  /** sha256 of the bin's bytes, hex. */
  sha256: string;
}

/** The smallest dtype that holds every id below vocabSize: uint16 up to 65536 ids (GPT-2's 50257 fit), else uint32. */
export function tokenDType(vocabSize: number): TokenDType {
  return vocabSize <= 65536 ? 'uint16' : 'uint32';
}

/** The JSON file that describes a token file: FILE.json. */
export function tokenInfoPath(file: string): string {
  return `${file}.json`;
}

/**
 * Writes ids as a token file at `file` and its description at FILE.json, each atomically; returns the
 * description. An id outside [0, vocabSize) is a ValueError naming its position.
 */
export function writeTokenFile(
  file: string,
  ids: ArrayLike<number>,
  opts: { vocabSize: number; tokenizer: { kind: string; source: string }; source: string },
): TokenFileInfo {
  const v = opts.vocabSize;
  if (!Number.isSafeInteger(v) || v < 1 || v > 2 ** 32)
    throw new ValueError('token file', `vocabSize must be in [1, 2^32], got ${showValue(v)}`);
  const dtype = tokenDType(v);
  const size = dtype === 'uint16' ? 2 : 4;
  const bytes = new Uint8Array(ids.length * size);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= v)
      throw new ValueError('token file', `id ${showValue(id)} at position ${i} is outside the vocabulary [0, ${v})`);
    if (size === 2) view.setUint16(i * 2, id, true);
    else view.setUint32(i * 4, id, true);
  }
  const info: TokenFileInfo = {
    format: 'mox-tokens',
    version: 1,
    dtype,
    byte_order: 'little',
    vocab_size: v,
    count: ids.length,
    tokenizer: opts.tokenizer,
    source: opts.source,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  try {
    writeFileAtomicSync(file, bytes);
    writeFileAtomicSync(tokenInfoPath(file), JSON.stringify(info, null, 2) + '\n');
  } catch (e) {
    throw new DataError('token file', `cannot write ${file}: ${(e as Error).message}`);
  }
  return info;
}

/**
 * Reads a token file and its FILE.json; a missing or inconsistent description (size, sha256, an id
 * past the vocabulary) is a DataError naming the file.
 */
export function readTokenFile(file: string): {
  /** The token ids, in the file's dtype. */
  ids: Uint16Array | Uint32Array;
  /** The description read from FILE.json. */
  info: TokenFileInfo;
} {
  const infoFile = tokenInfoPath(file);
  const bad = (msg: string) => new DataError('token file', `${file}: ${msg}`);
  if (!fs.existsSync(file)) throw bad('no such file');
  if (!fs.existsSync(infoFile)) throw bad(`no ${infoFile} beside it (written by mox tokenize --out-bin)`);
  let info: TokenFileInfo;
  try {
    info = JSON.parse(fs.readFileSync(infoFile, 'utf8')) as TokenFileInfo;
  } catch (e) {
    throw bad(`${infoFile} is not valid JSON: ${(e as Error).message}`);
  }
  if (info?.format !== 'mox-tokens') throw bad(`${infoFile}: format is ${showValue(info?.format)}, expected "mox-tokens"`);
  if (info.dtype !== 'uint16' && info.dtype !== 'uint32') throw bad(`${infoFile}: dtype ${showValue(info.dtype)} (uint16 or uint32)`);
  if (info.byte_order !== 'little') throw bad(`${infoFile}: byte_order ${showValue(info.byte_order)}, expected "little"`);
  const bytes = fs.readFileSync(file);
  const size = info.dtype === 'uint16' ? 2 : 4;
  if (bytes.length !== info.count * size)
    throw bad(`holds ${bytes.length} bytes, ${infoFile} says ${info.count} ${info.dtype} tokens (${info.count * size} bytes)`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== info.sha256) throw bad(`sha256 ${sha} differs from ${infoFile}'s ${showValue(info.sha256)}: the file changed`);
  const ids = size === 2 ? new Uint16Array(info.count) : new Uint32Array(info.count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < info.count; i++) {
    const id = size === 2 ? view.getUint16(i * 2, true) : view.getUint32(i * 4, true);
    if (id >= info.vocab_size) throw bad(`id ${id} at position ${i} is outside the vocabulary [0, ${info.vocab_size})`);
    ids[i] = id;
  }
  return { ids, info };
}
