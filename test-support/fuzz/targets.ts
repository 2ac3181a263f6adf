// One fuzz target per file reader of mox: its valid seed files (written with mox's own writers or
// small fixtures), its format-aware mutations, and the read itself, through the same entry point a
// user or the CLI calls, on files in a folder so every error can be checked for the file's name.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as mox from '../../src/index.js';
import { loadSafetensorsSync } from '../../src/io/safetensors-tensors.js';
import { encodeSafetensors } from '../../src/io/safetensors-format.js';
import { readIdx } from '../../src/data/formats/idx.js';
import { readCifar10 } from '../../src/data/formats/cifar.js';
import { readTar, writeTar } from '../../src/data/formats/tar.js';
import { readCsv } from '../../src/data/formats/csv.js';
import { readLines, readText } from '../../src/data/formats/text.js';
import { GPT2Tokenizer } from '../../src/text/gpt2.js';
import { loadTokenizerDir } from '../../src/text/load-tokenizer.js';
import { CharTokenizer } from '../../src/text/char.js';
import { WordTokenizer } from '../../src/text/word.js';
import { BYTE_ORDER, bytesToTokenString } from '../../src/text/bytes.js';
import { GPT } from '../../src/models/gpt.js';
import { loadGPT, saveGPTWeights } from '../../src/models/gpt-checkpoint.js';
import { exportHuggingFaceGPT2 } from '../../src/models/hf-gpt2.js';
import { LSTMLanguageModel } from '../../src/models/lstm-lm.js';
import { loadLSTM, saveLSTM } from '../../src/models/lstm-checkpoint.js';
import { readTrainerState } from '../../src/cli/commands/trainer-state.js';
import type { Module } from '../../src/nn/module.js';
import { idxFile } from '../fixtures.js';
import { mutateBytes, mutateJson, mutateText, type Rng, utf8 } from './mutate.js';

/** One input: file name -> bytes, written into the target's folder before each read. */
export type FuzzInput = Record<string, Uint8Array>;

export interface FuzzTarget {
  name: string;
  /** What the reader is, for the report. */
  describe: string;
  /** Valid inputs the mutations start from. */
  seeds(): Promise<FuzzInput[]>;
  /** One mutation of an input (the runner stacks one to three). */
  mutate(input: FuzzInput, rng: Rng, donors: readonly Uint8Array[]): FuzzInput;
  /** Reads the input's files from dir; throws on bad input. Frees what it made. */
  read(dir: string): void;
}

const disposeModule = (m: Module): void => {
  for (const p of m.parameters()) p.dispose();
  for (const [, b] of m.namedBuffers()) b.dispose();
};

/** Mutates one file of the input, chosen at random, with `how`; now and then a file goes missing. */
function mutateOneFile(
  input: FuzzInput,
  rng: Rng,
  how: (name: string, b: Uint8Array) => Uint8Array,
  canDrop = Object.keys(input).length > 1,
): FuzzInput {
  const names = Object.keys(input);
  const name = rng.pick(names);
  const out = { ...input };
  if (canDrop && rng.chance(0.02)) delete out[name];
  else out[name] = how(name, input[name]!);
  return out;
}

// ---- safetensors --------------------------------------------------------------------------------

/** A safetensors file from a header object and a data section, as written, with no checks. */
function rawSafetensors(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const h = utf8.encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Splits a safetensors file into its header text and data section (null when the length field is off). */
function splitSafetensors(b: Uint8Array): { header: string; data: Uint8Array } | null {
  if (b.length < 8) return null;
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (n > b.length - 8) return null;
  return { header: new TextDecoder().decode(b.subarray(8, 8 + n)), data: b.subarray(8 + n) };
}

/** A structural mutation of a safetensors file: its header edited as JSON and re-framed with the right length. */
function mutateSafetensors(b: Uint8Array, rng: Rng, donors: readonly Uint8Array[]): Uint8Array {
  const parts = splitSafetensors(b);
  if (parts === null || rng.chance(0.3)) return mutateBytes(b, rng, donors);
  let header: Record<string, { dtype?: unknown; shape?: unknown; data_offsets?: unknown }>;
  try {
    header = JSON.parse(parts.header) as typeof header;
  } catch {
    return mutateBytes(b, rng, donors);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return mutateBytes(b, rng, donors);
  const isEntry = (v: unknown): v is (typeof header)[string] => typeof v === 'object' && v !== null && !Array.isArray(v);
  const names = Object.keys(header).filter((k) => k !== '__metadata__' && isEntry(header[k]));
  const name = names.length ? rng.pick(names) : undefined;
  const e = name !== undefined ? header[name] : undefined;
  switch (rng.int(0, 6)) {
    case 0: {
      // overlapping or duplicate tensors: one tensor's offsets given to another
      const other = names.length ? header[rng.pick(names)] : undefined;
      if (e && other) e.data_offsets = other.data_offsets;
      break;
    }
    case 1:
      // a wrong dtype (same shape and offsets): the byte count no longer fits, or fits a wrong reading
      if (e) e.dtype = rng.pick(['F16', 'BF16', 'F64', 'I64', 'U64', 'U32', 'I8', 'BOOL', 'F8_E5M2', 'f32', 'F128', 7]);
      break;
    case 2:
      // a huge shape whose byte count overflows 2^53 and 2^64, with offsets claiming it all
      if (e) {
        const d = rng.pick([2 ** 20, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1]);
        e.shape = rng.pick([[d, d, d], [d], [0, d], [d, 0]]);
        if (rng.chance(0.5)) e.data_offsets = [0, rng.pick([d, 2 ** 53, 0])];
      }
      break;
    case 3:
      // a tensor repeated under a new name (aliasing the same bytes)
      if (e) header[`${name}.copy`] = { ...e };
      break;
    case 4: {
      const j = mutateJson(parts.header, rng);
      return j === null ? mutateBytes(b, rng, donors) : rawSafetensors(null, parts.data, j);
    }
    default:
      // the data section cut or extended while the header stays
      return rawSafetensors(
        header,
        rng.chance(0.5) ? parts.data.subarray(0, rng.int(0, parts.data.length + 1)) : mutateBytes(parts.data, rng),
      );
  }
  return rawSafetensors(header, parts.data);
}

async function safetensorsSeeds(): Promise<FuzzInput[]> {
  const f32 = Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.5);
  const a = encodeSafetensors(
    {
      w: { dtype: 'float32', shape: [3, 4], data: f32 },
      b: { dtype: 'float64', shape: [2], data: Float64Array.of(1.5, -2) },
      i: { dtype: 'int32', shape: [2, 2], data: Int32Array.of(1, -2, 3, 2 ** 31 - 1) },
      m: { dtype: 'bool', shape: [3], data: Uint8Array.of(1, 0, 1) },
      e: { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) },
      s: { dtype: 'float32', shape: [], data: Float32Array.of(3) },
    },
    { format: 'pt', step: '12' },
  );
  // the dtypes mox reads but does not write: half floats, 8-bit floats, 64-bit and small integers
  const widths: [string, number][] = [
    ['F16', 2],
    ['BF16', 2],
    ['F8_E4M3', 1],
    ['F8_E5M2', 1],
    ['I64', 8],
    ['U64', 8],
    ['U32', 4],
    ['U16', 2],
    ['I16', 2],
    ['I8', 1],
    ['U8', 1],
  ];
  const header: Record<string, unknown> = { __metadata__: { note: 'fuzz seed' } };
  let off = 0;
  for (const [dtype, size] of widths) {
    header[dtype.toLowerCase()] = { dtype, shape: [2, 2], data_offsets: [off, off + 4 * size] };
    off += 4 * size;
  }
  const data = Uint8Array.from({ length: off }, (_, i) => (i * 37) % 97); // small values: 64-bit ones fit int32
  return [{ 'fuzz.safetensors': a }, { 'fuzz.safetensors': rawSafetensors(header, data) }];
}

// ---- IDX, CIFAR-10 ------------------------------------------------------------------------------

function mutateIdx(b: Uint8Array, rng: Rng, donors: readonly Uint8Array[]): Uint8Array {
  if (b.length < 8 || rng.chance(0.5)) return mutateBytes(b, rng, donors);
  const out = b.slice();
  const v = new DataView(out.buffer);
  const ndim = out[3]!;
  if (rng.chance(0.2)) out[rng.pick([2, 3])] = rng.pick([0, 1, 3, 8, 9, 11, 12, 13, 14, 15, 0xff]);
  else {
    const d = rng.int(0, Math.max(1, Math.min(ndim, (out.length - 4) >> 2)));
    v.setUint32(4 + 4 * d, rng.pick([0, 1, 2 ** 16, 2 ** 31, 2 ** 32 - 1, v.getUint32(4 + 4 * d) + 1, v.getUint32(4 + 4 * d) * 2]));
  }
  return out;
}

function idxSeeds(): FuzzInput[] {
  const images = idxFile(
    8,
    [3, 4, 5],
    Uint8Array.from({ length: 60 }, (_, i) => (i * 13) % 256),
  );
  const labels = idxFile(8, [6], Uint8Array.of(0, 1, 2, 9, 4, 5));
  const f32 = new Uint8Array(4 * 6);
  new DataView(f32.buffer).setFloat32(0, 1.5, false);
  const floats = idxFile(13, [2, 3], f32);
  const i16 = idxFile(11, [4], Uint8Array.of(0, 1, 0xff, 0xfe, 0x7f, 0, 1, 1));
  const f64 = idxFile(14, [1, 1], new Uint8Array(8));
  return [images, labels, floats, i16, f64, Uint8Array.from(gzipSync(images))].map((b) => ({ 'fuzz.idx': b }));
}

function cifarSeeds(): FuzzInput[] {
  const rec = (label: number) => {
    const r = new Uint8Array(3073);
    r[0] = label;
    for (let i = 1; i < r.length; i++) r[i] = (i * label + 11) % 256;
    return r;
  };
  const two = new Uint8Array(2 * 3073);
  two.set(rec(3));
  two.set(rec(9), 3073);
  return [{ 'fuzz.bin': two }, { 'fuzz.bin': Uint8Array.from(gzipSync(rec(0))) }];
}

// ---- tar ----------------------------------------------------------------------------------------

const BLOCK = 512;

/** Re-stamps the checksum of the header block at `at`, so a mutated field gets past the checksum test. */
function fixChecksum(b: Uint8Array, at: number): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[at + i]!;
  b.set(utf8.encode(sum.toString(8).padStart(6, '0') + '\0 '), at + 148);
}

function mutateTar(b: Uint8Array, rng: Rng, donors: readonly Uint8Array[]): Uint8Array {
  if (b.length < BLOCK || b[0] === 0x1f || rng.chance(0.4)) return mutateBytes(b, rng, donors);
  // a header field set to an extreme, with a valid checksum
  const headers: number[] = [];
  for (let at = 0; at + BLOCK <= b.length; at += BLOCK)
    if (new TextDecoder('latin1').decode(b.subarray(at + 257, at + 262)) === 'ustar') headers.push(at);
  if (headers.length === 0) return mutateBytes(b, rng, donors);
  const out = b.slice();
  const at = rng.pick(headers);
  switch (rng.int(0, 4)) {
    case 0: {
      const size = rng.pick(['77777777777', '00000000000', '99999999999', '-0000000001', 'zzzzzzzzzzz', '           ', '40000000000']);
      out.set(utf8.encode(size), at + 124);
      break;
    }
    case 1:
      // base-256 size (GNU): a huge 95-bit number
      out[at + 124] = 0x80 | rng.int(0, 128);
      for (let i = 1; i < 12; i++) out[at + 124 + i] = rng.int(0, 256);
      break;
    case 2:
      out[at + 156] = utf8.encode(rng.pick(['L', 'x', 'g', '5', '7', '1', '2', 'K', '\0']))[0] ?? 0;
      break;
    default:
      out.set(mutateBytes(out.subarray(at, at + BLOCK), rng).subarray(0, BLOCK), at);
  }
  if (rng.chance(0.9)) fixChecksum(out, at);
  return out;
}

function tarSeeds(): FuzzInput[] {
  const files = [
    { name: 'cifar-10-batches-bin/data_batch_1.bin', data: Uint8Array.from({ length: 700 }, (_, i) => i % 251) },
    { name: 'cifar-10-batches-bin/readme.html', data: utf8.encode('<p>hello</p>') },
    { name: 'empty', data: new Uint8Array(0) },
  ];
  const plain = writeTar(files);
  // a GNU long name ('L') and a pax path record ('x') ahead of members
  const longName = 'd/'.repeat(70) + 'long-name.txt';
  const withLong = writeTar([
    { name: '././@LongLink', data: utf8.encode(longName + '\0') },
    { name: 'short', data: utf8.encode('x') },
  ]);
  withLong[156] = 'L'.charCodeAt(0);
  fixChecksum(withLong, 0);
  const pax = `${(' path=' + longName + '\n').length + 3} path=${longName}\n`;
  const withPax = writeTar([
    { name: 'PaxHeader', data: utf8.encode(pax) },
    { name: 'short', data: utf8.encode('y') },
  ]);
  withPax[156] = 'x'.charCodeAt(0);
  fixChecksum(withPax, 0);
  return [plain, withLong, withPax, Uint8Array.from(gzipSync(plain))].map((b) => ({ 'fuzz.tar': b }));
}

// ---- text formats -------------------------------------------------------------------------------

function csvSeeds(): FuzzInput[] {
  const texts = [
    'x1,x2,label\n1,2,cat\n3.5,-4,dog\n,1e3,cat\n',
    '"a, quoted",b\r\n"1",2\r\n"3 ""x""",4\r\n',
    '1;2;3\n4;5;6\n',
    '\ufeffsepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\nnan,inf,virginica\n',
    'y,x\n0,1\n1,2\n2,3\n',
  ];
  return texts.map((t) => ({ 'fuzz.csv': utf8.encode(t) }));
}

function textSeeds(): FuzzInput[] {
  return [
    utf8.encode('First Citizen:\nBefore we proceed any further, hear me speak.\r\n\nAll: Speak, speak.\n'),
    utf8.encode('\ufeffcaf\u00e9 \u2014 \ud83d\ude00 na\u00efve\n'),
    Uint8Array.of(0x93, 0x71, 0x75, 0x6f, 0x74, 0x65, 0x94, 0x20, 0x97, 0x0a), // Windows-1252 quotes and dash
    Uint8Array.from(gzipSync(utf8.encode('line one\nline two\n'))),
  ].map((b) => ({ 'fuzz.txt': b }));
}

// ---- tokenizers ---------------------------------------------------------------------------------

/** A small GPT-2 style vocabulary: the 256 byte symbols, a few merges and their results. */
function gpt2Files(): FuzzInput {
  const enc: Record<string, number> = {};
  BYTE_ORDER.forEach((b, i) => {
    enc[bytesToTokenString([b])] = i;
  });
  const merges: [string, string][] = [
    ['Ġ', 't'],
    ['h', 'e'],
    ['Ġt', 'he'],
    ['i', 'n'],
    ['a', 'n'],
    ['Ġ', 'a'],
  ];
  let id = 256;
  for (const [a, b] of merges) enc[a + b] ??= id++;
  enc['<|endoftext|>'] = id++;
  return {
    'encoder.json': utf8.encode(JSON.stringify(enc)),
    'vocab.bpe': utf8.encode(`#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`),
  };
}

const SAMPLE = 'Then the ant ran in, and the rain came. Ça va? 日本 😀 <|endoftext|>';

function tokenizerJsonSeeds(): FuzzInput[] {
  const char = CharTokenizer.fromCorpus(SAMPLE);
  const word = WordTokenizer.fromCorpus([SAMPLE, 'the ant and the rain']);
  return [
    { 'tokenizer.json': utf8.encode(JSON.stringify(char.toJSON())) },
    { 'tokenizer.json': utf8.encode(JSON.stringify(word.toJSON())) },
    { 'tokenizer.json': utf8.encode(JSON.stringify({ type: 'bpe', vocabSize: 263, specialTokens: ['<|endoftext|>'] })), ...gpt2Files() },
  ];
}

// ---- checkpoint folders -------------------------------------------------------------------------

const readAll = (dir: string): FuzzInput =>
  Object.fromEntries(fs.readdirSync(dir).map((f) => [f, Uint8Array.from(fs.readFileSync(path.join(dir, f)))]));

async function gptSeeds(): Promise<FuzzInput[]> {
  const tmp = fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'mox-fuzz-seed-'));
  try {
    mox.seed(1);
    const seeds: FuzzInput[] = [];
    for (const [i, tied] of [true, false].entries()) {
      const cfg = { vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 4, dropout: 0, tiedEmbeddings: tied, bias: i === 0 };
      const model = new GPT(cfg);
      const dir = path.join(tmp, `gpt${i}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ gpt: model.config, train: { maxIters: 10 } }));
      await saveGPTWeights(dir, model, { step: '3' });
      seeds.push(readAll(dir));
      disposeModule(model);
    }
    return seeds;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function hfSeeds(): Promise<FuzzInput[]> {
  const tmp = fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'mox-fuzz-seed-'));
  try {
    mox.seed(2);
    const seeds: FuzzInput[] = [];
    for (const [i, tied] of [true, false].entries()) {
      const model = new GPT({ vocabSize: 9, blockSize: 3, nLayer: 2, nHead: 1, nEmbd: 4, tiedEmbeddings: tied });
      const dir = path.join(tmp, `hf${i}`);
      exportHuggingFaceGPT2(model, dir);
      seeds.push(readAll(dir));
      disposeModule(model);
    }
    return seeds;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function lstmSeeds(): Promise<FuzzInput[]> {
  const tmp = fs.mkdtempSync(path.join(fs.realpathSync(process.env['TMPDIR'] ?? '/tmp'), 'mox-fuzz-seed-'));
  try {
    const seeds: FuzzInput[] = [];
    for (const [i, tie] of [false, true].entries()) {
      const model = new LSTMLanguageModel({ vocabSize: 7, embedDim: 3, hiddenSize: 3, numLayers: 1 + i, tieWeights: tie });
      const dir = path.join(tmp, `lstm${i}`);
      await saveLSTM(dir, model, { train: { maxIters: 5 } }, { step: '2' });
      seeds.push(readAll(dir));
      disposeModule(model);
    }
    return seeds;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Checkpoint folders: config.json mutated as JSON, model.safetensors structurally, either file dropped now and then. */
function mutateCheckpoint(input: FuzzInput, rng: Rng, donors: readonly Uint8Array[]): FuzzInput {
  return mutateOneFile(input, rng, (name, b) =>
    name.endsWith('.safetensors') ? mutateSafetensors(b, rng, donors) : mutateText(b, rng, donors),
  );
}

function trainerStateSeeds(): FuzzInput[] {
  const g = new mox.Generator(5);
  g.normal();
  const state = {
    step: 40,
    history: [
      { step: 0, train: 4.2, val: 4.3 },
      { step: 20, train: 2.5, val: null },
    ],
    optimizer: {
      numbers: { '0': { step: 40 }, '1': { step: 40 } },
      paramGroups: [{ lr: 0.001, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1, params: [0] }],
    },
    rng: { global: new mox.Generator(7).getState(), batch: g.getState() },
  };
  return [{ 'trainer_state.json': utf8.encode(JSON.stringify(state)) }];
}

// ---- the targets --------------------------------------------------------------------------------

const single =
  (mutate: (b: Uint8Array, rng: Rng, donors: readonly Uint8Array[]) => Uint8Array) =>
  (input: FuzzInput, rng: Rng, donors: readonly Uint8Array[]) =>
    mutateOneFile(input, rng, (_, b) => mutate(b, rng, donors), false);

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'safetensors',
    describe: 'loadSafetensorsSync (src/io/safetensors-format.ts, safetensors-tensors.ts)',
    seeds: safetensorsSeeds,
    mutate: single(mutateSafetensors),
    read(dir) {
      const { tensors } = loadSafetensorsSync(path.join(dir, 'fuzz.safetensors'));
      for (const t of Object.values(tensors)) t.dispose();
    },
  },
  {
    name: 'idx',
    describe: 'readIdx (src/data/formats/idx.ts), gzip or raw',
    seeds: async () => idxSeeds(),
    mutate: single(mutateIdx),
    read(dir) {
      readIdx(path.join(dir, 'fuzz.idx'));
    },
  },
  {
    name: 'cifar10',
    describe: 'readCifar10 (src/data/formats/cifar.ts), gzip or raw',
    seeds: async () => cifarSeeds(),
    mutate: single(mutateBytes),
    read(dir) {
      const { images, labels } = readCifar10(path.join(dir, 'fuzz.bin'));
      images.dispose();
      labels.dispose();
    },
  },
  {
    name: 'tar',
    describe: 'readTar (src/data/formats/tar.ts): ustar, GNU long names, pax paths, gzip',
    seeds: async () => tarSeeds(),
    mutate: single(mutateTar),
    read(dir) {
      const file = path.join(dir, 'fuzz.tar');
      readTar(Uint8Array.from(fs.readFileSync(file)), file);
    },
  },
  {
    name: 'csv',
    describe: 'readCsv (src/data/formats/csv.ts), with and without a label column',
    seeds: async () => csvSeeds(),
    mutate: single(mutateText),
    read(dir) {
      const file = path.join(dir, 'fuzz.csv');
      // the options a program would pass, varied by the file's length so each input is one read
      const n = fs.statSync(file).size;
      const delimiter = fs.readFileSync(file, 'latin1').includes(';') ? ';' : ',';
      const opts = [{}, { labelColumn: -1 }, { labelColumn: 0 }, { header: true }][n % 4]!;
      const d = readCsv(file, { delimiter, ...(opts.labelColumn === -1 ? {} : opts) });
      d.x.dispose();
      d.y?.dispose();
    },
  },
  {
    name: 'text',
    describe: 'readText / readLines (src/data/formats/text.ts), UTF-8 and --encoding windows-1252',
    seeds: async () => textSeeds(),
    mutate: single(mutateBytes),
    read(dir) {
      const file = path.join(dir, 'fuzz.txt');
      readText(file);
      readLines(file, { encoding: 'windows-1252', skipEmpty: true });
    },
  },
  {
    name: 'gpt2-bpe',
    describe: 'GPT2Tokenizer.fromDir (src/text/gpt2.ts): encoder.json + vocab.bpe, then encode/decode',
    seeds: async () => [gpt2Files()],
    mutate: (input, rng, donors) => mutateOneFile(input, rng, (_, b) => mutateText(b, rng, donors), false),
    read(dir) {
      const tok = GPT2Tokenizer.fromDir(dir);
      tok.decode(tok.encode(SAMPLE, { allowedSpecial: 'all' }));
    },
  },
  {
    name: 'tokenizer-json',
    describe: 'loadTokenizerDir (src/text/load-tokenizer.ts): char, word and BPE tokenizer.json',
    seeds: async () => tokenizerJsonSeeds(),
    mutate: (input, rng, donors) => mutateOneFile(input, rng, (_, b) => mutateText(b, rng, donors)),
    read(dir) {
      const tok = loadTokenizerDir(dir);
      if (tok.kind !== 'char') tok.decode(tok.encode(SAMPLE));
    },
  },
  {
    name: 'gpt-checkpoint',
    describe: 'loadGPT (src/models/gpt-checkpoint.ts): config.json + model.safetensors',
    seeds: gptSeeds,
    mutate: mutateCheckpoint,
    read(dir) {
      disposeModule(loadGPT(dir).model);
    },
  },
  {
    name: 'hf-gpt2',
    describe: 'loadGPT on a Hugging Face GPT-2 folder (src/models/hf-gpt2.ts)',
    seeds: hfSeeds,
    mutate: mutateCheckpoint,
    read(dir) {
      disposeModule(loadGPT(dir).model);
    },
  },
  {
    name: 'lstm-checkpoint',
    describe: 'loadLSTM (src/models/lstm-checkpoint.ts): config.json + model.safetensors',
    seeds: lstmSeeds,
    mutate: mutateCheckpoint,
    read(dir) {
      disposeModule(loadLSTM(dir).model);
    },
  },
  {
    name: 'trainer-state',
    describe: "readTrainerState (src/cli/commands/trainer-state.ts): a resumed run's trainer_state.json",
    seeds: async () => trainerStateSeeds(),
    mutate: single(mutateText),
    read(dir) {
      readTrainerState(path.join(dir, 'trainer_state.json'), 'train gpt');
    },
  },
];
