// Tests for mox.text: GPT-2's byte-level BPE on hand-built encoder.json/vocab.bpe files whose ids are
// worked out by hand (and, when present, GPT-2's real files with cases.json); round trips over random
// Unicode strings; special tokens plain vs allowed; BPE training (hand-checked merges, determinism,
// save/load); char and word tokenizers; `mox tokenize` as a child process; the speed on 1.1 MB.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as mox from '../src/index.js';
import { wellFormed } from '../src/text/bytes.js';

const T = mox.text;
const tmp = mkdtempSync(join(tmpdir(), 'mox-text-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const MAIN = resolve(process.cwd(), 'dist/src/cli/main.js');

/** The id GPT-2 gives a single byte (ids 0..255 follow bytes_to_unicode's order). */
const B = (ch: string): number => T.BYTE_ORDER.indexOf(ch.charCodeAt(0));

/** A hand-built vocabulary: the 256 bytes, then these merges' results in order, then <|endoftext|>. */
function handBuilt(merges: [string, string][]): { encoder: Record<string, number>; vocab: string } {
  const encoder: Record<string, number> = {};
  T.BYTE_ORDER.forEach((b, i) => {
    encoder[T.bytesToTokenString([b])] = i;
  });
  let next = 256;
  for (const [a, b] of merges) if (!(a + b in encoder)) encoder[a + b] = next++;
  encoder['<|endoftext|>'] = next;
  return { encoder, vocab: `#version: 0.2\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n` };
}

// 256 Ġt, 257 he, 258 Ġthe, 259 ll, 260 hell, 261 aa, 262 aaaa, 263 <|endoftext|>
const HAND = handBuilt([
  ['Ġ', 't'],
  ['h', 'e'],
  ['Ġt', 'he'],
  ['l', 'l'],
  ['he', 'll'],
  ['a', 'a'],
  ['aa', 'aa'],
]);
const handDir = join(tmp, 'hand');
mkdirSync(handDir);
writeFileSync(join(handDir, 'encoder.json'), JSON.stringify(HAND.encoder));
writeFileSync(join(handDir, 'vocab.bpe'), HAND.vocab);

describe('GPT-2 byte-level BPE on a hand-built vocabulary', () => {
  const tok = T.GPT2Tokenizer.fromFiles(join(handDir, 'encoder.json'), join(handDir, 'vocab.bpe'));

  it("uses GPT-2's byte ids", () => {
    assert.equal(B('!'), 0);
    assert.deepEqual([tok.encode(' ')[0], tok.encode('\n')[0]], [220, 198]); // 'Ġ' and 'Ċ' as in GPT-2
    assert.equal(tok.vocabSize, 264);
    assert.equal(tok.idToToken(258), 'Ġthe');
  });

  it('merges by rank, every occurrence left to right', () => {
    assert.deepEqual(tok.encode(' the'), [258]);
    assert.deepEqual(tok.encode('the'), [B('t'), 257]);
    assert.deepEqual(tok.encode('hello'), [260, B('o')]); // he, then ll, then he+ll
    assert.deepEqual(tok.encode('aaaaa'), [262, B('a')]); // aa aa a -> aaaa a
    assert.deepEqual(tok.encode('aaa'), [261, B('a')]);
    assert.deepEqual(tok.encode(' the the'), [258, 258]);
  });

  it("splits with GPT-2's pattern first", () => {
    assert.deepEqual(T.pretokenize("Hello world's  \n\n  it's 123abc!! ?"), [
      'Hello',
      ' world',
      "'s",
      '  \n\n ',
      ' it',
      "'s",
      ' 123',
      'abc',
      '!!',
      ' ?',
    ]);
    assert.deepEqual(T.pretokenize('a  b\t\u00a0c \u3000'), ['a', ' ', ' b', '\t', '\u00a0', 'c', ' \u3000']);
    assert.deepEqual(tok.encode('a  the'), [B('a'), 220, 258]); // 'a', ' ', ' the'
    assert.deepEqual(tok.encode("he's"), [257, B("'"), B('s')]);
  });

  it('encodes UTF-8 bytes and decodes to the same bytes', () => {
    assert.deepEqual(tok.encode('é'), [T.BYTE_ORDER.indexOf(0xc3), T.BYTE_ORDER.indexOf(0xa9)]);
    const s = 'héllo wörld 👋🏽 x\u0301 中文 \u0000\u001f\u0085\ufeff';
    assert.equal(tok.decode(tok.encode(s)), s);
    assert.deepEqual(tok.decodeBytes(tok.encode(s)), new Uint8Array(Buffer.from(s, 'utf8')));
  });

  it("decodes invalid UTF-8 like Python's errors='replace'", () => {
    const ids = (bytes: number[]): number[] => bytes.map((b) => T.BYTE_ORDER.indexOf(b));
    assert.equal(tok.decode(ids([0xe2, 0x82, 0x61])), '\ufffda'); // truncated sequence: one U+FFFD
    assert.equal(tok.decode(ids([0xed, 0xa0, 0x80])), '\ufffd\ufffd\ufffd'); // an encoded surrogate
    assert.equal(tok.decode(ids([0xff, 0x61, 0xc0, 0xaf])), '\ufffda\ufffd\ufffd');
    assert.equal(tok.decode(ids([0xef, 0xbb, 0xbf, 0x61])), '\ufeffa'); // a leading BOM is kept
    assert.equal(tok.decode(tok.encode('\ud800x')), '\ufffdx'); // a lone surrogate: U+FFFD
  });

  it('treats special tokens as plain text unless allowed', () => {
    const text = 'the<|endoftext|> the';
    const plain = tok.encode(text);
    assert.ok(!plain.includes(263));
    assert.deepEqual(plain.slice(0, 3), [B('t'), 257, B('<')]);
    assert.deepEqual(tok.encode(text, { allowedSpecial: 'all' }), [B('t'), 257, 263, 258]);
    assert.deepEqual(tok.encode(text, { allowedSpecial: ['<|endoftext|>'] }), [B('t'), 257, 263, 258]);
    assert.deepEqual(tok.encode(text, { allowedSpecial: [] }), plain);
    assert.equal(tok.decode(tok.encode(text, { allowedSpecial: 'all' })), text);
    assert.throws(() => tok.encode(text, { allowedSpecial: ['<|nope|>'] }), /not in the vocabulary/);
  });

  it('reads contents as well as paths, and rejects malformed files with clear messages', () => {
    const same = T.GPT2Tokenizer.fromContents(JSON.stringify(HAND.encoder), HAND.vocab);
    assert.deepEqual(same.encode('hello the'), tok.encode('hello the'));
    assert.throws(() => T.GPT2Tokenizer.fromContents('{"a": 0', HAND.vocab), /encoder.json is not valid JSON/);
    assert.throws(() => T.GPT2Tokenizer.fromContents('{"a": -1}', HAND.vocab), /token "a" has id -1/);
    assert.throws(
      () => T.GPT2Tokenizer.fromContents(JSON.stringify(HAND.encoder), '#version: 0.2\nĠ t\nabc\n'),
      /vocab.bpe line 3: expected two tokens/,
    );
    assert.throws(
      () => T.GPT2Tokenizer.fromDir(join(tmp, 'nowhere')),
      (e: Error) => e instanceof mox.DataError && /encoder.json not found/.test(e.message),
    );
    assert.throws(() => tok.decode([99999]), /unknown token id 99999/);
    // a merge whose result the encoder lacks is an error when a piece ends on it
    const broken = T.GPT2Tokenizer.fromContents(JSON.stringify(HAND.encoder), '#version: 0.2\nx y\n');
    assert.throws(() => broken.encode('xy'), /token "xy" .* is not in encoder.json/);
  });
});

// GPT-2's real files and reference cases, where this machine has them.
const dataDir = process.env['MOX_DATA_DIR'] ?? resolve(process.cwd(), '../shared/data');
const casesFile = join(dataDir, 'gpt2-bpe', 'cases.json');
const gpt2Missing = ['encoder.json', 'vocab.bpe', 'cases.json'].filter((f) => !existsSync(join(dataDir, 'gpt2-bpe', f)));
it("GPT-2's tokenizer gives exactly the ids in cases.json and decodes back", {
  skip: gpt2Missing.length ? `not in ${join(dataDir, 'gpt2-bpe')}: ${gpt2Missing.join(', ')}` : false,
}, () => {
  const tok = T.GPT2Tokenizer.fromDir(join(dataDir, 'gpt2-bpe'));
  assert.equal(tok.vocabSize, 50257);
  const raw = JSON.parse(readFileSync(casesFile, 'utf8')) as unknown;
  const cases = (Array.isArray(raw) ? raw : (raw as { cases: unknown[] }).cases) as Record<string, unknown>[];
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const text = c['text'] as string;
    const ids = (c['ids'] ?? c['input_ids'] ?? c['tokens']) as number[];
    assert.deepEqual(tok.encode(text), ids, `ids of ${JSON.stringify(text.slice(0, 60))}`);
    assert.equal(tok.decode(ids), text);
  }
});

/** A seeded random string over many kinds of code points, lone surrogates included. */
function randomUnicode(rand: () => number, maxLen: number): string {
  const ranges: [number, number][] = [
    [0x20, 0x7e],
    [0x20, 0x7e],
    [0x61, 0x7a],
    [0x0, 0x1f],
    [0x80, 0xff],
    [0x300, 0x36f],
    [0x400, 0x4ff],
    [0x4e00, 0x9fff],
    [0x3040, 0x30ff],
    [0x1f300, 0x1faff],
    [0x1f3fb, 0x1f3ff],
    [0x200b, 0x200d],
    [0x2000, 0x200a],
    [0x2028, 0x2029],
    [0x3000, 0x3000],
    [0xfeff, 0xfeff],
    [0x85, 0x85],
    [0xd800, 0xdfff],
    [0x660, 0x669],
    [0x10000, 0x10ffff],
    [0x27, 0x27],
    [0xa, 0xd],
  ];
  const n = Math.floor(rand() * maxLen);
  let s = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = ranges[Math.floor(rand() * ranges.length)]!;
    s += String.fromCodePoint(lo + Math.floor(rand() * (hi - lo + 1)));
  }
  return s;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const CORPUS = [
  'First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n',
  "You are all resolved rather to die than to famish? We know't, we know't. It's 1999; 3.14 isn't pi.\n",
  'Grüße aus München! Ça va? naïve café — “quotes” 東京は日本の首都です。 Москва 🙂👍🏽👨‍👩‍👧 e\u0301\n',
  '    indented code(x) { return x + 1; }\t\ttabs\r\n',
]
  .join('')
  .repeat(5);

describe('BPE training', () => {
  it('merges the most frequent pair first, ties to the smaller ids (hand-checked)', () => {
    const tok = T.trainBPE('aaa aaa aaa b', { vocabSize: 1000 });
    // pairs: (a,a) 6, (Ġ,a) 2, (Ġ,b) 1; then (aa,a) 3; then (Ġ,aaa) 2; (Ġ,b) is below minFrequency 2
    assert.deepEqual(tok.merges, [
      ['a', 'a'],
      ['aa', 'a'],
      ['Ġ', 'aaa'],
    ]);
    assert.equal(tok.vocabSize, 256 + 3 + 1);
    assert.deepEqual(tok.encode(' aaa aa'), [258, 220, 256]);
    assert.equal(tok.encoder.get('<|endoftext|>'), 259);
    const tie = T.trainBPE('ab cd', { vocabSize: 300, minFrequency: 1, specialTokens: [] });
    assert.deepEqual(tie.merges, [
      ['a', 'b'],
      ['c', 'd'],
      ['Ġ', 'cd'],
    ]);
    assert.deepEqual(tie.encode('ab cd'), [256, 258]);
  });

  it('is deterministic and reaches the vocabulary size asked for', () => {
    const a = T.trainBPE(CORPUS, { vocabSize: 400 });
    const b = T.trainBPE(CORPUS, { vocabSize: 400 });
    assert.equal(a.vocabSize, 400);
    assert.deepEqual(a.merges, b.merges);
    assert.deepEqual([...a.encoder], [...b.encoder]);
    assert.ok(a.encode(CORPUS).length < Buffer.byteLength(CORPUS) / 2);
    assert.throws(() => T.trainBPE(CORPUS, { vocabSize: 100 }), /vocabSize must be an integer from 257/);
  });

  it('saves encoder.json/vocab.bpe that load back to the same tokenizer', () => {
    const tok = T.trainBPE(CORPUS, { vocabSize: 350 });
    const dir = join(tmp, 'trained');
    tok.save(dir);
    assert.ok(readFileSync(join(dir, 'vocab.bpe'), 'utf8').startsWith('#version: 0.2\n'));
    const enc = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
    assert.equal(enc['!'], 0);
    assert.equal(enc['<|endoftext|>'], 349);
    for (const loaded of [T.GPT2Tokenizer.fromDir(dir), T.loadTokenizer(dir)]) {
      assert.equal(loaded.kind, 'bpe');
      assert.equal(loaded.vocabSize, 350);
      assert.deepEqual(loaded.encode(CORPUS), tok.encode(CORPUS));
    }
    const viaSpec = T.loadTokenizer('bpe:350', { corpus: CORPUS });
    assert.deepEqual(viaSpec.encode(CORPUS), tok.encode(CORPUS));
  });

  it('round-trips random Unicode strings exactly (lone surrogates become U+FFFD)', () => {
    const tok = T.trainBPE(CORPUS, { vocabSize: 600 });
    const hand = T.GPT2Tokenizer.fromDir(handDir);
    const rand = lcg(7);
    for (let i = 0; i < 400; i++) {
      const s = randomUnicode(rand, 40) + (i % 3 === 0 ? CORPUS.slice(i, i + 50) : '');
      assert.equal(T.pretokenize(s).join(''), s);
      for (const t of [tok, hand]) {
        const ids = t.encode(s);
        assert.equal(t.decode(ids), wellFormed(s), `round trip of ${JSON.stringify(s)}`);
        assert.deepEqual(t.decodeBytes(ids), new Uint8Array(Buffer.from(s, 'utf8')));
      }
    }
  });
});

describe('CharTokenizer', () => {
  it('is the sorted set of characters, like nanoGPT', () => {
    const tok = T.CharTokenizer.fromCorpus('hello world\n😀é');
    assert.deepEqual(tok.chars, ['\n', ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', 'é', '😀']);
    assert.equal(tok.vocabSize, 11);
    assert.deepEqual(tok.encode('hole😀'), [4, 6, 5, 3, 10]);
    assert.equal(tok.decode(tok.encode('hello world\n😀é')), 'hello world\n😀é');
    // sorted by code point, not UTF-16 unit: U+FFFD comes before U+1F600
    assert.deepEqual(T.CharTokenizer.fromCorpus('😀\ufffd').chars, ['\ufffd', '😀']);
  });

  it('names an unknown character, and saves/loads', () => {
    const tok = T.CharTokenizer.fromCorpus('abc');
    assert.throws(() => tok.encode('abz'), /character "z" \(U\+007A\) is not in the vocabulary/);
    assert.throws(() => tok.decode([3]), /unknown token id 3/);
    const dir = join(tmp, 'char');
    tok.save(dir);
    const back = T.loadTokenizer(dir);
    assert.equal(back.kind, 'char');
    assert.deepEqual(back.encode('cab'), [2, 0, 1]);
    assert.deepEqual(T.loadTokenizer('char', { corpus: 'abc' }).encode('cab'), [2, 0, 1]);
    assert.throws(() => T.loadTokenizer('char'), /needs a corpus/);
  });
});

describe('WordTokenizer', () => {
  const texts = ['The cat sat on the mat.', "the dog didn't sit!", 'A cat, a dog; THE END'];

  it('builds a vocabulary by frequency with <pad>=0 and <unk>=1', () => {
    const tok = T.WordTokenizer.fromCorpus(texts);
    assert.deepEqual(tok.vocab.slice(0, 6), ['<pad>', '<unk>', 'the', 'cat', 'dog', 'a']);
    assert.deepEqual(tok.encode('The zebra sat.'), [2, 1, tok.vocab.indexOf('sat'), tok.vocab.indexOf('.')]);
    assert.ok(tok.vocab.includes("didn't"));
    const small = T.WordTokenizer.fromCorpus(texts, { maxVocab: 5 });
    assert.deepEqual(small.vocab, ['<pad>', '<unk>', 'the', 'cat', 'dog']);
    const freq = T.WordTokenizer.fromCorpus(texts, { minFreq: 2 });
    assert.deepEqual(freq.vocab, ['<pad>', '<unk>', 'the', 'cat', 'dog', 'a']);
    const cased = T.WordTokenizer.fromCorpus(texts, { lowercase: false });
    assert.ok(cased.vocab.includes('THE') && cased.vocab.includes('The'));
  });

  it('pads and truncates to a fixed length, and batch-encodes to int32 [N, L]', () => {
    const tok = T.WordTokenizer.fromCorpus(texts, { minFreq: 2 });
    assert.deepEqual(tok.encode('the cat', { length: 4 }), [2, 3, 0, 0]);
    assert.deepEqual(tok.encode('the cat', { length: 4, padding: 'pre' }), [0, 0, 2, 3]);
    assert.deepEqual(tok.encode('the cat a dog', { length: 2 }), [2, 3]);
    assert.deepEqual(tok.encode('the cat a dog', { length: 2, truncating: 'pre' }), [5, 4]);
    const batch = tok.encodeBatch(['the cat', 'a dog the cat the'], 3);
    assert.equal(batch.dtype, 'int32');
    assert.deepEqual(batch.shape, [2, 3]);
    assert.deepEqual(batch.tolist(), [
      [2, 3, 0],
      [5, 4, 2],
    ]);
    assert.equal(tok.decode([2, 3, 1, 0, 0]), 'the cat <unk>');
    const dir = join(tmp, 'word');
    tok.save(dir);
    const back = T.loadTokenizer(dir);
    assert.equal(back.kind, 'word');
    assert.deepEqual(back.encode('The dog'), [2, 4]);
  });
});

describe('loadTokenizer', () => {
  it('gives clear errors for bad specs and malformed folders', () => {
    assert.throws(() => T.loadTokenizer(join(tmp, 'missing')), /no tokenizer .*expected 'char', 'gpt2', 'bpe:N'/);
    assert.throws(() => T.loadTokenizer('bpe:x', { corpus: 'abc' }), /expected bpe:N/);
    const bad = join(tmp, 'bad');
    mkdirSync(bad);
    assert.throws(() => T.loadTokenizer(bad), /has no tokenizer.json/);
    writeFileSync(join(bad, 'tokenizer.json'), '{"type": "nope"}');
    assert.throws(() => T.loadTokenizer(bad), /unknown tokenizer type "nope"/);
    writeFileSync(join(bad, 'tokenizer.json'), '{oops');
    assert.throws(() => T.loadTokenizer(bad), /is not valid JSON/);
    assert.deepEqual(T.loadTokenizer('gpt2', { vocabDir: handDir }).encode(' the'), [258]);
    assert.deepEqual(T.loadTokenizer(handDir).encode(' the'), [258]);
  });
});

describe('mox tokenize', () => {
  const run = (args: string[], input: string | Buffer, env: NodeJS.ProcessEnv = process.env) => {
    const r = spawnSync(process.execPath, [MAIN, 'tokenize', ...args], { input, env, timeout: 60_000 });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
  };

  it('encodes stdin to JSON ids and decodes them back to the same bytes', () => {
    const dir = join(tmp, 'cli-bpe');
    T.trainBPE(CORPUS, { vocabSize: 320 }).save(dir);
    const text = 'Speak, speak! 東京 👍🏽 <|endoftext|>\n';
    const enc = run(['--tokenizer', dir], text);
    assert.equal(enc.code, 0, enc.stderr);
    const ids = JSON.parse(enc.stdout.toString('utf8')) as number[];
    assert.deepEqual(ids, T.loadTokenizer(dir).encode(text));
    const dec = run(['--tokenizer', dir, '--decode'], enc.stdout);
    assert.equal(dec.code, 0, dec.stderr);
    assert.equal(dec.stdout.toString('utf8'), text);
    const special = JSON.parse(run(['--tokenizer', dir, '--allow-special'], text).stdout.toString('utf8')) as number[];
    assert.ok(special.includes(319) && !ids.includes(319));
  });

  it("resolves 'gpt2' from --vocab-dir or MOX_DATA_DIR", () => {
    const r = run(['--tokenizer', 'gpt2', '--vocab-dir', handDir], ' the hello');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString('utf8'), `[258,220,260,${B('o')}]\n`); // ' the', ' hello' = Ġ hell o
    const data = join(tmp, 'data');
    mkdirSync(join(data, 'gpt2-bpe'), { recursive: true });
    writeFileSync(join(data, 'gpt2-bpe', 'encoder.json'), JSON.stringify(HAND.encoder));
    writeFileSync(join(data, 'gpt2-bpe', 'vocab.bpe'), HAND.vocab);
    const viaEnv = run(['--tokenizer', 'gpt2', '--decode'], '258 258', { ...process.env, MOX_DATA_DIR: data });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(viaEnv.stdout.toString('utf8'), ' the the');
  });

  it('fails clearly: usage errors exit 2, missing or malformed files exit 1 without a stack', () => {
    const help = run(['--help'], '');
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString('utf8'), /usage: mox tokenize --tokenizer DIR\|gpt2/);
    assert.equal(run([], 'x').code, 2);
    assert.equal(run(['--tokenizer', 'char'], 'x').code, 2);
    // offline, with an empty cache: the error names every folder searched (loadDataset's rule)
    const offline = { ...process.env, MOX_DATA_DIR: '', MOX_DATA_OFFLINE: '1', XDG_CACHE_HOME: join(tmp, 'empty-cache') };
    const missing = run(['--tokenizer', 'gpt2', '--vocab-dir', join(tmp, 'nowhere')], 'x', offline);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      `mox: tokenize: GPT-2's encoder.json and vocab.bpe not found in --vocab-dir (${join(tmp, 'nowhere', 'gpt2-bpe')}), ` +
        `MOX_DATA_DIR (not set) or ${join(tmp, 'empty-cache', 'mox', 'gpt2-bpe')}, and downloading is off: put the files in one of those folders (see docs/data.md)\n`,
    );
    const bad = join(tmp, 'cli-bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'encoder.json'), '{"a": 0');
    writeFileSync(join(bad, 'vocab.bpe'), '#version: 0.2\n');
    const malformed = run(['--tokenizer', bad], 'x');
    assert.equal(malformed.code, 1);
    assert.match(malformed.stderr, /encoder.json is not valid JSON/);
    assert.doesNotMatch(malformed.stderr, /^\s+at /m);
    const badIds = run(['--tokenizer', handDir, '--decode'], '[1, "x"]');
    assert.equal(badIds.code, 1);
    assert.match(badIds.stderr, /item 1 is not a token id/);
  });
});

// A quadratic encoder would take minutes here and hit the test's timeout; no time is asserted.
it('tokenises 1.1 MB of English-like text and decodes it back', { timeout: 120_000 }, (t) => {
  const rand = lcg(1);
  const syl = [
    'th',
    'e',
    'an',
    're',
    'er',
    'in',
    'on',
    'at',
    'nd',
    'st',
    'es',
    'en',
    'of',
    'te',
    'ed',
    'or',
    'ti',
    'hi',
    'as',
    'to',
    'ou',
    'ing',
    'ly',
    'ow',
    'wh',
    'ea',
  ];
  const words = Array.from({ length: 6000 }, (_, i) => {
    let w = '';
    for (let j = 0, n = 1 + Math.floor(rand() * 3); j < n; j++) w += syl[Math.floor(rand() * syl.length)];
    return i % 7 === 0 ? w[0]!.toUpperCase() + w.slice(1) : w;
  });
  const parts: string[] = [];
  let len = 0;
  while (len < 1_115_394) {
    const p = rand();
    const s = (p < 0.06 ? ',' : p < 0.09 ? '.' : '') + (rand() < 0.08 ? '\n' : ' ') + words[Math.floor(words.length * rand() ** 3)];
    parts.push(s);
    len += s.length;
  }
  const text = parts.join('');
  const tok = T.trainBPE(text.slice(0, 200_000), { vocabSize: 2000 });
  const t0 = performance.now();
  const ids = tok.encode(text);
  const ms = performance.now() - t0;
  assert.equal(tok.decode(ids), text);
  t.diagnostic(`encoding 1.1 MB took ${ms.toFixed(0)} ms`);
});
