// The fuzzer's mutations: a seeded random source, byte-level mutations (truncations, bit flips,
// extreme integers, invalid UTF-8, spliced and repeated ranges) and JSON-level ones (a value set to
// 0, -1, 2^53, NaN, a huge number, a wrong type, a deep or huge structure, a duplicated key), so every
// input is a pure function of (seed, reader, index) and any finding can be replayed alone.

/** A deterministic random source (mulberry32 over a 32-bit state). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A uniform number in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed of one input: a hash of the run's seed, the reader's name and the input's index. */
export function inputSeed(seed: number, reader: string, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < reader.length; i++) h = Math.imul(h ^ reader.charCodeAt(i), 0x01000193) >>> 0;
  h = Math.imul(h ^ index, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Integers that break length and offset arithmetic: zero, -1, the edges of int32/uint32, 2^53 and past it. */
export const EXTREME_NUMBERS: readonly number[] = [
  0,
  1,
  -1,
  2,
  255,
  256,
  65535,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 40,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  1e308,
  -(2 ** 31),
  -(2 ** 53),
  0.5,
  -0,
];

/** Byte sequences that are not UTF-8: a lone continuation, an overlong form, a surrogate, a cut sequence, 0xFF. */
const INVALID_UTF8: readonly number[][] = [
  [0x80],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xe2, 0x82],
  [0xff],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc3],
];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Writes an integer as `width` bytes (little- or big-endian), saturating as a file field would be read. */
function intBytes(v: number, width: number, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(width);
  let big = BigInt.asUintN(width * 8, BigInt(Math.trunc(Number.isFinite(v) ? Math.min(Math.max(v, -(2 ** 63)), 2 ** 64 - 1) : 0)));
  for (let i = 0; i < width; i++) {
    out[littleEndian ? i : width - 1 - i] = Number(big & 0xffn);
    big >>= 8n;
  }
  return out;
}

/** One random byte-level mutation of `b` (never in place). */
export function mutateBytes(b: Uint8Array, rng: Rng, donors: readonly Uint8Array[] = []): Uint8Array {
  const n = b.length;
  const at = () => rng.int(0, Math.max(n, 1));
  switch (rng.int(0, 11)) {
    case 0: // truncate
      return b.slice(0, at());
    case 1: {
      // flip 1-8 bits
      const out = b.slice();
      for (let k = rng.int(1, 9); k > 0 && n > 0; k--) {
        const i = at();
        out[i] = out[i]! ^ (1 << rng.int(0, 8));
      }
      return out;
    }
    case 2: {
      // a byte set to a boundary value
      const out = b.slice();
      if (n > 0) out[at()] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x30, 0x39, 0x22]);
      return out;
    }
    case 3: {
      // an extreme integer written over 2, 4 or 8 bytes
      const out = b.slice();
      const width = rng.pick([2, 4, 8]);
      const i = rng.int(0, Math.max(1, n - width + 1));
      const bytes = intBytes(rng.pick(EXTREME_NUMBERS), width, rng.chance(0.5)).subarray(0, Math.max(0, n - i));
      out.set(bytes, i);
      return out;
    }
    case 4: {
      // invalid UTF-8 inserted
      const i = at();
      return concat(b.subarray(0, i), Uint8Array.from(rng.pick(INVALID_UTF8)), b.subarray(i));
    }
    case 5: {
      // a range deleted
      const i = at();
      return concat(b.subarray(0, i), b.subarray(Math.min(n, i + rng.int(1, 64))));
    }
    case 6: {
      // a range repeated (duplicate records, headers, tensors)
      const i = at();
      const j = Math.min(n, i + rng.int(1, 600));
      const k = at();
      return concat(b.subarray(0, k), b.subarray(i, j), b.subarray(k));
    }
    case 7: {
      // random bytes inserted
      const i = at();
      const extra = Uint8Array.from({ length: rng.int(1, 32) }, () => rng.int(0, 256));
      return concat(b.subarray(0, i), extra, b.subarray(i));
    }
    case 8: {
      // spliced with another seed: this one's head, the other's tail
      if (donors.length === 0) return b.slice(0, at());
      const d = rng.pick(donors);
      return concat(b.subarray(0, at()), d.subarray(rng.int(0, Math.max(1, d.length))));
    }
    case 9: {
      // an ASCII digit run replaced by an extreme number (text formats: sizes, ids, shapes)
      const text = new TextDecoder('latin1').decode(b);
      const runs = [...text.matchAll(/\d+/g)];
      if (runs.length === 0) return b.slice(0, at());
      const m = rng.pick(runs);
      const v = rng.pick([...EXTREME_NUMBERS.map(String), 'NaN', 'Infinity', '-1', '1e999', '00000000000000000009']);
      const enc = new TextEncoder();
      return concat(b.subarray(0, m.index), enc.encode(v), b.subarray(m.index + m[0].length));
    }
    default:
      // empty, or a single byte
      return rng.chance(0.5) ? new Uint8Array(0) : Uint8Array.of(rng.int(0, 256));
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every [container, key] path into a JSON value, so one can be replaced. */
function slots(v: Json, out: [Json[] | { [k: string]: Json }, string | number][] = [], depth = 0): typeof out {
  if (depth > 20 || v === null || typeof v !== 'object') return out;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([v, i]);
      slots(x, out, depth + 1);
    });
  } else {
    for (const k of Object.keys(v)) {
      out.push([v, k]);
      slots(v[k]!, out, depth + 1);
    }
  }
  return out;
}

/** A hostile JSON value: extreme numbers, wrong types, long strings, huge or deep structures. */
function hostileValue(rng: Rng): Json | { raw: string } {
  switch (rng.int(0, 10)) {
    case 0:
    case 1:
    case 2:
      return rng.pick(EXTREME_NUMBERS);
    case 3:
      return rng.pick([null, true, false, '', 'F32', 'BF16', 'I64', 'U64', 'F8_E4M3', 'bogus', '__proto__', 'gpt2', 'char', 'word', 'bpe']);
    case 4:
      return rng.pick([[], {}, [0], [-1], [2 ** 32, 2 ** 32], [0, 2 ** 53], [1, 0], [0, 0], [2 ** 20, 2 ** 20, 2 ** 20]]);
    case 5:
      return 'x'.repeat(rng.pick([100, 10_000, 1_000_000]));
    case 6: {
      // deep: nested arrays or objects, written as text (no recursion to build or print them)
      const d = rng.pick([100, 10_000, 200_000]);
      return rng.chance(0.5) ? { raw: '['.repeat(d) + ']'.repeat(d) } : { raw: '{"a":'.repeat(d) + '0' + '}'.repeat(d) };
    }
    case 7: {
      const n = rng.pick([1000, 100_000]);
      return { raw: `[${new Array(n).fill('1').join(',')}]` };
    }
    case 8:
      return {
        raw: rng.pick([
          'NaN',
          'Infinity',
          '-Infinity',
          '1e999',
          '-1e999',
          '0x10',
          '"\\ud800"',
          '"\\u0000"',
          '01',
          '1.',
          '"\\uDFFF\\uD800"',
        ]),
      };
    default:
      return rng.int(-3, 100);
  }
}

/**
 * One random JSON-level mutation of `text`: a value replaced by a hostile one, a key duplicated, or an
 * array extended. Returns null when the text is not JSON (then a byte-level mutation is used instead).
 */
export function mutateJson(text: string, rng: Rng): string | null {
  let v: Json;
  try {
    v = JSON.parse(text) as Json;
  } catch {
    return null;
  }
  const all = slots(v);
  const RAW = '\u0000raw\u0000';
  const raws: string[] = [];
  const put = (container: Json[] | { [k: string]: Json }, key: string | number, x: Json | { raw: string }) => {
    let val: Json;
    if (x !== null && typeof x === 'object' && !Array.isArray(x) && 'raw' in x && typeof x.raw === 'string') {
      raws.push(x.raw);
      val = `${RAW}${raws.length - 1}`;
    } else val = x as Json;
    (container as Record<string | number, Json>)[key] = val;
  };
  const op = rng.int(0, 5);
  if (all.length === 0 || op === 4) {
    const x = hostileValue(rng);
    if (x !== null && typeof x === 'object' && !Array.isArray(x) && 'raw' in x && typeof x.raw === 'string') return x.raw;
    return JSON.stringify(x);
  }
  const [container, key] = rng.pick(all);
  if (op <= 1) put(container, key, hostileValue(rng));
  else if (op === 2) {
    // a number nudged: off by one, negated, doubled
    const cur = (container as Record<string | number, Json>)[key];
    if (typeof cur === 'number') put(container, key, rng.pick([cur + 1, cur - 1, -cur, cur * 2, cur * 2 ** 20, cur + 0.5]));
    else put(container, key, hostileValue(rng));
  } else if (op === 3 && !Array.isArray(container)) {
    // a duplicated key, in the text: JSON.parse keeps the last, other readers the first
    const other = rng.pick(all)[1];
    let s: string;
    try {
      s = JSON.stringify(v);
    } catch {
      return null;
    }
    const dup = `${JSON.stringify(String(key))}:${JSON.stringify((container as Record<string, Json>)[other] ?? null)},`;
    const i = s.indexOf(`${JSON.stringify(String(key))}:`);
    return i < 0 ? s : s.slice(0, i) + dup + s.slice(i);
  } else put(container, key, hostileValue(rng));
  let s: string;
  try {
    s = JSON.stringify(v); // a value nested deeper than the stack (from an earlier mutation): leave it to the byte mutations
  } catch {
    return null;
  }
  raws.forEach((r, i) => {
    s = s.replace(JSON.stringify(`${RAW}${i}`), () => r);
  });
  return s;
}

export const utf8 = new TextEncoder();
export const latin1 = new TextDecoder('latin1');

/** A byte mutation or, when the bytes are JSON and the coin says so, a JSON one. */
export function mutateText(b: Uint8Array, rng: Rng, donors: readonly Uint8Array[] = []): Uint8Array {
  if (rng.chance(0.6)) {
    const j = mutateJson(new TextDecoder().decode(b), rng);
    if (j !== null) return utf8.encode(j);
  }
  return mutateBytes(b, rng, donors);
}
