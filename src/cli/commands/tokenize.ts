// `mox tokenize --tokenizer DIR|gpt2 [--decode]`: text on stdin to a JSON array of ids on stdout, or
// (--decode) ids on stdin to text. A byte-level BPE tokenizer decodes to the exact bytes. With
// --out-bin FILE the ids go to a token file instead (data/formats/tokens.ts: nanoGPT's flat uint16
// train.bin plus FILE.json), which PyTorch memory-maps (python/mox_torch/train.py).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { DataError, ValueError } from '../../errors.js';
import { GPT2Tokenizer } from '../../text/gpt2.js';
import { gpt2VocabDirAsync, loadTokenizerDir } from '../../text/load-tokenizer.js';
import type { Tokenizer } from '../../text/tokenizer.js';
import { LiveProgress } from '../../train/live-progress.js';
import { writeTokenFile } from '../../data/formats/tokens.js';
import { isHuggingFaceGPT2Dir } from '../../models/hf-gpt2.js';
import { loadModelTokenizer } from './gpt-tokenizer.js';
import { readTextFile } from './text-input.js';

type Values = Record<string, string | boolean | undefined>;

/** What `mox tokenize` does: the tokenizer, the direction, and where the ids go. */
export interface TokenizeOptions {
  tokenizer: string;
  decode?: boolean;
  vocabDir?: string;
  allowSpecial?: boolean;
  /** Write the ids as a token file (and FILE.json) here instead of JSON on stdout. */
  outBin?: string;
  /** Where the text came from, as FILE.json records it ('-' for stdin). */
  source?: string;
}

/**
 * The tokenizer named by --tokenizer: a folder, or 'gpt2': GPT-2's encoder.json + vocab.bpe found as
 * loadDataset finds files (--vocab-dir, $MOX_DATA_DIR/gpt2-bpe, the cache), else downloaded into the
 * cache with their sha256 checked.
 */
export async function resolveCliTokenizer(spec: string, vocabDir?: string): Promise<Tokenizer> {
  if (spec === 'gpt2') {
    let dir: string;
    try {
      dir = await gpt2VocabDirAsync(vocabDir);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      throw new DataError('tokenize', `GPT-2's ${e.message.replace(/^gpt2-bpe: /, '').replace(/\bdataDir \(/, '--vocab-dir (')}`);
    }
    return GPT2Tokenizer.fromDir(dir);
  }
  // a Hugging Face GPT-2 folder (mox export-hf's, or PyTorch's save_hf_gpt2): vocab.json + merges.txt or the character tokenizer.json
  if (isHuggingFaceGPT2Dir(spec)) {
    const tok = loadModelTokenizer(spec);
    if (tok) return tok;
  }
  return loadTokenizerDir(spec);
}

/** Parses ids given as a JSON array or as integers separated by spaces or commas. */
export function parseIds(text: string): number[] {
  const t = text.trim();
  if (t === '') return [];
  let items: unknown[];
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (!Array.isArray(v)) throw new Error('not an array');
      items = v;
    } catch (e) {
      throw new ValueError('tokenize', `--decode expects a JSON array of ids on stdin: ${(e as Error).message}`);
    }
  } else {
    items = t.split(/[\s,]+/).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  }
  return items.map((x, i) => {
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
      throw new ValueError('tokenize', `--decode: item ${i} is not a token id: ${JSON.stringify(x)}`);
    }
    return x;
  });
}

/**
 * The ids of `text`, encoded a piece of about `pieceChars` characters at a time so that a big input
 * shows its progress (`onPiece` gets each piece's UTF-8 bytes). A piece ends after a newline that has a
 * non-space character on each side: no tokenizer of mox joins anything across such a newline (GPT-2's
 * pre-tokenizer keeps a lone newline a word of its own whatever follows it; words and characters never
 * span lines), so the ids are those of one encode of the whole text (test/progress.test.ts checks).
 */
export function encodeInPieces(
  text: string,
  encode: (piece: string) => number[],
  onPiece: (bytes: number) => void = () => {},
  pieceChars = 1 << 16,
): number[] {
  const ids: number[] = [];
  const isSpace = (c: string | undefined): boolean => c === undefined || /[\s\p{White_Space}]/u.test(c);
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + pieceChars);
    // the next newline at or past `end` between two non-space characters, else the text's end
    while (end < text.length && !(text[end - 1] === '\n' && !isSpace(text[end - 2]) && !isSpace(text[end]))) end++;
    const piece = text.slice(start, end);
    for (const id of encode(piece)) ids.push(id);
    onPiece(Buffer.byteLength(piece, 'utf8'));
    start = end;
  }
  return ids;
}

/** Runs `mox tokenize` on the input bytes: ids as JSON (or a token file with outBin), or with decode the text. */
export async function runTokenize(
  opts: TokenizeOptions,
  input: Buffer | string,
  write: (data: string | Uint8Array) => void,
): Promise<void> {
  const tok = await resolveCliTokenizer(opts.tokenizer, opts.vocabDir);
  if (opts.decode) {
    const ids = parseIds(typeof input === 'string' ? input : input.toString('utf8'));
    write(tok instanceof GPT2Tokenizer ? tok.decodeBytes(ids) : tok.decode(ids));
    return;
  }
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const encode = (s: string): number[] =>
    tok instanceof GPT2Tokenizer && opts.allowSpecial ? tok.encode(s, { allowedSpecial: 'all' }) : tok.encode(s);
  // bytes encoded of the input's, on stderr (stdout is the ids); none for an input that takes no time
  const big = text.length > 1 << 16;
  const bar = new LiveProgress({
    desc: 'tokenize',
    total: Buffer.byteLength(text, 'utf8'),
    unit: 'B',
    unitScale: true,
    ...(big ? {} : { enabled: false }),
  });
  const ids = encodeInPieces(text, encode, (bytes) => bar.advance(bytes));
  bar.close();
  if (opts.outBin === undefined) {
    write(JSON.stringify(ids) + '\n');
    return;
  }
  const info = writeTokenFile(opts.outBin, ids, {
    vocabSize: tok.vocabSize,
    tokenizer: { kind: tok.kind, source: opts.tokenizer === 'gpt2' ? 'gpt2' : path.resolve(opts.tokenizer) },
    source: opts.source ?? '-',
  });
  write(
    `wrote ${opts.outBin}: ${info.count} tokens, ${info.dtype}, vocab ${info.vocab_size} (${tok.kind}); ${opts.outBin}.json describes it\n`,
  );
}

/** The `mox tokenize` command: its usage, flags and run. */
export function tokenizeCommand(bad: (message: string) => Error) {
  return {
    summary: 'text on stdin to token ids (or back, with --decode)',
    usage: `usage: mox tokenize --tokenizer DIR|gpt2 [--decode] [--vocab-dir DIR] [--allow-special]
       mox tokenize --tokenizer DIR|gpt2 --out-bin FILE [--input TEXTFILE]

Reads stdin and writes stdout: text -> a JSON array of token ids, or with --decode
ids (a JSON array, or integers separated by spaces/commas) -> the text.

  --tokenizer DIR|gpt2   a folder a tokenizer was saved to (tokenizer.json; a GPT checkpoint folder
                         works too), or 'gpt2': GPT-2's encoder.json + vocab.bpe, looked for in
                         --vocab-dir, $MOX_DATA_DIR/gpt2-bpe and ~/.cache/mox/gpt2-bpe, else
                         downloaded into the cache from openaipublic.blob.core.windows.net
                         (sha256-checked; MOX_DATA_OFFLINE=1 turns the download off)
  --decode               ids to text (byte-level BPE writes the exact bytes)
  --vocab-dir DIR        a folder holding GPT-2's encoder.json and vocab.bpe
  --allow-special        encode special tokens such as <|endoftext|> as their ids (default: plain text)
  --out-bin FILE         write the ids to FILE as flat little-endian uint16 (uint32 when the vocabulary
                         exceeds 65536): nanoGPT's train.bin, np.memmap-able; FILE.json beside it gives
                         dtype, count, vocab_size, the tokenizer, the source and the sha256
                         (python/mox_torch/train.py trains on it; see docs/scale-out.md)
  --input TEXTFILE       read the text from this file (UTF-8) instead of stdin`,
    options: {
      tokenizer: { type: 'string' },
      decode: { type: 'boolean' },
      'vocab-dir': { type: 'string' },
      'allow-special': { type: 'boolean' },
      'out-bin': { type: 'string' },
      input: { type: 'string' },
    } satisfies NonNullable<ParseArgsConfig['options']>,
    async run(values: Values, positionals: string[]): Promise<void> {
      if (positionals.length > 0) throw bad(`tokenize: unexpected argument '${positionals[0]}' (the text comes on stdin)`);
      const spec = values['tokenizer'];
      if (typeof spec !== 'string' || spec === '') throw bad('tokenize: missing --tokenizer DIR|gpt2');
      if (spec === 'char' || spec.startsWith('bpe:')) {
        throw bad(`tokenize: '${spec}' is built from a corpus; pass the folder it was saved to (e.g. a GPT checkpoint) or 'gpt2'`);
      }
      const vocabDir = values['vocab-dir'];
      if (vocabDir !== undefined && spec !== 'gpt2') throw bad('tokenize: --vocab-dir goes with --tokenizer gpt2');
      const outBin = values['out-bin'];
      const inputFile = values['input'];
      if (outBin === '') throw bad('tokenize: --out-bin needs a file');
      if (inputFile === '') throw bad('tokenize: --input needs a file');
      if (outBin !== undefined && values['decode'] === true) throw bad('tokenize: --out-bin writes ids, it does not go with --decode');
      const input = typeof inputFile === 'string' ? readTextFile('tokenize', inputFile) : fs.readFileSync(0);
      await runTokenize(
        {
          tokenizer: spec,
          decode: values['decode'] === true,
          allowSpecial: values['allow-special'] === true,
          ...(typeof vocabDir === 'string' ? { vocabDir } : {}),
          ...(typeof outBin === 'string' ? { outBin, source: typeof inputFile === 'string' ? path.resolve(inputFile) : '-' } : {}),
        },
        input,
        (d) => {
          process.stdout.write(d);
        },
      );
    },
  };
}
