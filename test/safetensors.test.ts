import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SafetensorsError } from '../src/errors.js';
import {
  MAX_HEADER_BYTES,
  decodeEntry,
  decodeSafetensors,
  encodeSafetensors,
  parseSafetensors,
  type SafetensorsEntry,
} from '../src/io/safetensors.js';
import { float32ToBfloat16Bits, float32ToHalfBits, halfBitsToNumber } from '../src/base/float16.js';
import { mulberry32 as rng } from '../test-support/fixtures.js';

const GOLDEN = process.env['MOX_GOLDEN_DIR'] ?? path.resolve(process.cwd(), '../shared/golden');

/** Asserts that fn throws a SafetensorsError whose message matches re. */
function throwsST(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, re);
    assert.match(e.message, /^safetensors: /);
    return true;
  });
}

/** A file from a header (object or raw JSON text) and a data section. */
function makeFile(header: unknown, data: Uint8Array | number = 0, headerLen?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const h = new TextEncoder().encode(text);
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, headerLen ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

function bytesOf(
  a:
    | Float32Array
    | Float64Array
    | Int32Array
    | Uint16Array
    | BigInt64Array
    | BigUint64Array
    | Uint32Array
    | Uint8Array
    | Int8Array
    | Int16Array,
): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function smallFile(): Uint8Array {
  return encodeSafetensors(
    {
      w: { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
      b: { dtype: 'float64', shape: [2], data: Float64Array.from([0.5, -0.5]) },
      i: { dtype: 'int32', shape: [], data: Int32Array.from([7]) },
      m: { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    },
    { k: 'v' },
  );
}

// ---------------------------------------------------------------- golden files

test('parses every golden file and matches manifest shapes', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'manifest.json'), 'utf8')) as {
    cases: {
      file: string;
      op: string;
      inputs: Record<string, number[]>;
      params: Record<string, number[]>;
      outputs: Record<string, number[]>;
      gouts: string[];
      grads: string[];
    }[];
  };
  assert.ok(manifest.cases.length > 100);
  const files = fs
    .readdirSync(GOLDEN)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  assert.deepEqual(files, manifest.cases.map((c) => c.file).sort());
  for (const c of manifest.cases) {
    const { metadata, entries } = parseSafetensors(fs.readFileSync(path.join(GOLDEN, c.file)), c.file);
    assert.equal(metadata['op'], c.op, c.file);
    for (const group of [c.inputs, c.params, c.outputs]) {
      for (const [name, shape] of Object.entries(group)) {
        const e = entries.get(name);
        assert.ok(e, `${c.file}: missing ${name}`);
        assert.deepEqual(e.shape, shape, `${c.file}: ${name}`);
      }
    }
    for (const name of [...c.gouts, ...c.grads]) assert.ok(entries.has(name), `${c.file}: missing ${name}`);
    const decoded = decodeSafetensors({ metadata, entries });
    for (const [name, e] of entries) {
      const d = decoded[name]!;
      assert.equal(d.dtype, e.dtype === 'F32' ? 'float32' : 'int32', `${c.file}: ${name} ${e.dtype}`);
      assert.equal(
        d.data.length,
        e.shape.reduce((a, b) => a * b, 1),
      );
    }
  }
});

test('golden values decode correctly (abs_0: out == |in.0|)', () => {
  const { entries } = parseSafetensors(fs.readFileSync(path.join(GOLDEN, 'abs_0.safetensors')));
  const x = decodeEntry(entries.get('in.0')!, 'in.0').data;
  const y = decodeEntry(entries.get('out')!, 'out').data;
  assert.ok(x.length > 0);
  assert.ok(Array.from(x).some((v) => v < 0));
  for (let i = 0; i < x.length; i++) assert.equal(y[i], Math.abs(x[i]!));
});

test('golden I64 tensors decode to int32', () => {
  const { entries } = parseSafetensors(fs.readFileSync(path.join(GOLDEN, 'cross_entropy_0.safetensors')));
  const target = entries.get('in.1')!;
  assert.equal(target.dtype, 'I64');
  const d = decodeEntry(target, 'in.1');
  assert.equal(d.dtype, 'int32');
  const big = new BigInt64Array(Uint8Array.prototype.slice.call(target.data).buffer);
  assert.deepEqual(Array.from(d.data), Array.from(big, Number));
});

// ---------------------------------------------------------------- round trip

test('encode -> parse round trip, all writable dtypes, scalars and empty tensors', () => {
  const tensors = {
    'layer.0.weight': { dtype: 'float32' as const, shape: [3, 2], data: Float32Array.from([1.5, -2, 3e-39, Infinity, -0, 7]) },
    b: { dtype: 'float64' as const, shape: [2], data: Float64Array.from([Math.PI, -1e300]) },
    idx: { dtype: 'int32' as const, shape: [4], data: Int32Array.from([0, -1, 2147483647, -2147483648]) },
    mask: { dtype: 'bool' as const, shape: [3], data: Uint8Array.from([1, 0, 5]) },
    scalar: { dtype: 'float32' as const, shape: [], data: Float32Array.from([42]) },
    empty: { dtype: 'float32' as const, shape: [0, 5], data: new Float32Array(0) },
    '1': { dtype: 'int32' as const, shape: [1], data: Int32Array.from([1]) },
    '0': { dtype: 'int32' as const, shape: [1], data: Int32Array.from([0]) },
    'ünï✓': { dtype: 'bool' as const, shape: [1], data: Uint8Array.from([0]) },
    __proto__: { dtype: 'float32' as const, shape: [1], data: Float32Array.from([9]) },
  };
  const meta = { format: 'pt', note: 'héllo "quoted"', __proto__: 'x' };
  const bytes = encodeSafetensors(Object.fromEntries(Object.entries(tensors)), meta);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.match(text, /^\{.*\} *$/);
  const parsed = parseSafetensors(bytes);
  assert.deepEqual({ ...parsed.metadata }, { ...meta });
  assert.equal(Object.getPrototypeOf(parsed.metadata), Object.prototype);
  // header order is sorted by name
  assert.deepEqual([...parsed.entries.keys()], Object.keys(Object.fromEntries(Object.entries(tensors))).sort());
  // data is packed with no gaps, every tensor aligned to its element size
  const spans = [...parsed.entries.values()]
    .map((e) => [e.data.byteOffset - bytes.byteOffset, e.data.length, e.dtype] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let pos = 8 + n;
  for (const [off, len, dt] of spans) {
    assert.equal(off, pos);
    assert.equal(off % ({ F64: 8, F32: 4, I32: 4, BOOL: 1 } as Record<string, number>)[dt]!, 0);
    pos += len;
  }
  assert.equal(pos, bytes.length);
  const decoded = decodeSafetensors(parsed);
  for (const [name, t] of Object.entries(tensors)) {
    const d = decoded[name]!;
    assert.ok(Object.hasOwn(decoded, name), name);
    assert.equal(d.dtype, t.dtype, name);
    assert.deepEqual(d.shape, t.shape, name);
    const want = t.dtype === 'bool' ? Array.from(t.data, (v) => (v ? 1 : 0)) : Array.from(t.data);
    assert.deepEqual(Array.from(d.data), want, name);
  }
  // the decoded arrays are copies, not views of the file
  (decoded['b']!.data as Float64Array)[0] = 0;
  assert.equal(decodeEntry(parsed.entries.get('b')!).data[0], Math.PI);
});

test('encode with no tensors and no metadata', () => {
  const bytes = encodeSafetensors({});
  const p = parseSafetensors(bytes);
  assert.equal(p.entries.size, 0);
  assert.deepEqual(p.metadata, {});
  assert.equal(bytes.length, 16);
});

test('encode rejects bad input', () => {
  throwsST(
    () => encodeSafetensors({ a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }),
    /'a'.*\[3\] needs 3 elements but data has 2/,
  );
  throwsST(() => encodeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Float64Array(2) } }), /'a'.*needs a Float32Array/);
  throwsST(
    () => encodeSafetensors({ a: { dtype: 'float16' as never, shape: [2], data: new Float32Array(2) } }),
    /cannot write dtype "float16"/,
  );
  throwsST(() => encodeSafetensors({ a: { dtype: 'float32', shape: [-1], data: new Float32Array(0) } }), /bad shape \[-1\]/);
  throwsST(() => encodeSafetensors({ __metadata__: { dtype: 'float32', shape: [0], data: new Float32Array(0) } }), /reserved/);
  throwsST(() => encodeSafetensors({}, { a: 1 as never }), /__metadata__ value for 'a' is number/);
});

test('decodes unaligned data (a subarray at an odd offset)', () => {
  const f = Float32Array.from([1.25, -3, 1e-40]);
  const buf = new Uint8Array(13);
  buf.set(bytesOf(f), 1);
  const e: SafetensorsEntry = { dtype: 'F32', shape: [3], data: buf.subarray(1) };
  assert.deepEqual(Array.from(decodeEntry(e).data), Array.from(f));
  const d = Float64Array.from([Math.E, -0]);
  const buf2 = new Uint8Array(19);
  buf2.set(bytesOf(d), 3);
  assert.deepEqual(Array.from(decodeEntry({ dtype: 'F64', shape: [2], data: buf2.subarray(3) }).data), [Math.E, -0]);
  const h = Uint16Array.from([0x3c00, 0xc000]);
  const buf3 = new Uint8Array(5);
  buf3.set(bytesOf(h), 1);
  assert.deepEqual(Array.from(decodeEntry({ dtype: 'F16', shape: [2], data: buf3.subarray(1) }).data), [1, -2]);
});

test('decodes from a pooled Node Buffer (a view at an offset into a shared ArrayBuffer)', () => {
  const f = smallFile();
  Buffer.from('abc'); // small Buffers share one pool, so the next one lands at an offset inside it
  const buf = Buffer.from(f);
  assert.ok(buf.buffer.byteLength > buf.length);
  const d = decodeSafetensors(parseSafetensors(buf));
  assert.deepEqual(Array.from(d['w']!.data), [1, 2, 3, 4, 5, 6]);
  assert.equal(d['w']!.data.buffer.byteLength, 24);
  assert.deepEqual(Array.from(d['b']!.data), [0.5, -0.5]);
  assert.deepEqual(Array.from(d['i']!.data), [7]);
});

// ---------------------------------------------------------------- half precision

test('F16 decodes known values', () => {
  const cases: [number, number][] = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 5.960464477539063e-8],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0400, 6.103515625e-5],
    [0x03ff, 6.097555160522461e-5],
    [0x3555, 0.333251953125],
    [0x0000, 0],
    [0x3800, 0.5],
    [0xfbff, -65504],
  ];
  const bits = Uint16Array.from(cases.map((c) => c[0]));
  const out = decodeEntry({ dtype: 'F16', shape: [bits.length], data: bytesOf(bits) }, 'h');
  assert.equal(out.dtype, 'float32');
  assert.deepEqual(
    Array.from(out.data),
    cases.map((c) => c[1]),
  );
  const special = decodeEntry({ dtype: 'F16', shape: [2], data: bytesOf(Uint16Array.from([0x8000, 0x7e00])) }).data;
  assert.ok(Object.is(special[0], -0));
  assert.ok(Number.isNaN(special[1]));
});

test('BF16 decodes known values', () => {
  const bits = Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0xff80, 0x0001, 0x8000, 0x7fc0, 0x4049]);
  const out = decodeEntry({ dtype: 'BF16', shape: [8], data: bytesOf(bits) }).data;
  assert.deepEqual(Array.from(out.subarray(0, 5)), [1, -2, Infinity, -Infinity, 2 ** -133]);
  assert.ok(Object.is(out[5], -0));
  assert.ok(Number.isNaN(out[6]));
  assert.equal(out[7], 3.140625);
});

test('float16 encode: every half value round trips, rounding is to nearest even', () => {
  for (let h = 0; h < 65536; h++) {
    const v = halfBitsToNumber(h);
    if (Number.isNaN(v)) assert.ok(Number.isNaN(halfBitsToNumber(float32ToHalfBits(v))));
    else assert.equal(float32ToHalfBits(v), h, `bits ${h.toString(16)}`);
  }
  assert.equal(float32ToHalfBits(65519), 0x7bff);
  assert.equal(float32ToHalfBits(65520), 0x7c00);
  assert.equal(float32ToHalfBits(2 ** -25), 0x0000); // tie -> even (zero)
  assert.equal(float32ToHalfBits(2 ** -25 * 1.5), 0x0001);
  assert.equal(float32ToHalfBits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 -> even
  assert.equal(float32ToHalfBits(1 + 2 ** -11), 0x3c00); // tie -> even
  assert.equal(float32ToHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(float32ToHalfBits(1e-10), 0);
  assert.equal(float32ToHalfBits(-1e-10), 0x8000);
  assert.equal(float32ToBfloat16Bits(1), 0x3f80);
  assert.equal(float32ToBfloat16Bits(1 + 2 ** -8), 0x3f80); // tie -> even
  assert.equal(float32ToBfloat16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(float32ToBfloat16Bits(-Infinity), 0xff80);
  assert.ok((float32ToBfloat16Bits(NaN) & 0x7fc0) === 0x7fc0);
});

test('F8 formats decode', () => {
  const e4 = decodeEntry({ dtype: 'F8_E4M3', shape: [5], data: Uint8Array.from([0x38, 0xc0, 0x7e, 0x7f, 0x01]) }).data;
  assert.deepEqual(Array.from(e4.subarray(0, 3)), [1, -2, 448]);
  assert.ok(Number.isNaN(e4[3]));
  assert.equal(e4[4], 2 ** -9);
  const e5 = decodeEntry({ dtype: 'F8_E5M2', shape: [3], data: Uint8Array.from([0x3c, 0x7c, 0x01]) }).data;
  assert.deepEqual(Array.from(e5), [1, Infinity, 2 ** -16]);
});

// ---------------------------------------------------------------- integers and bool

test('integer dtypes widen to int32 with a range check', () => {
  const dec = (dtype: string, a: Parameters<typeof bytesOf>[0], name = 't') =>
    decodeEntry({ dtype, shape: [a.length], data: bytesOf(a) }, name);
  assert.deepEqual(Array.from(dec('I64', BigInt64Array.from([0n, -5n, 2147483647n, -2147483648n])).data), [0, -5, 2147483647, -2147483648]);
  assert.deepEqual(Array.from(dec('U64', BigUint64Array.from([0n, 2147483647n])).data), [0, 2147483647]);
  assert.deepEqual(Array.from(dec('U32', Uint32Array.from([0, 2147483647])).data), [0, 2147483647]);
  assert.deepEqual(Array.from(dec('I16', Int16Array.from([-32768, 32767])).data), [-32768, 32767]);
  assert.deepEqual(Array.from(dec('U16', Uint16Array.from([65535, 0])).data), [65535, 0]);
  assert.deepEqual(Array.from(dec('I8', Int8Array.from([-128, 127])).data), [-128, 127]);
  assert.deepEqual(Array.from(dec('U8', Uint8Array.from([255, 0])).data), [255, 0]);
  assert.equal(dec('I32', Int32Array.from([1])).dtype, 'int32');
  throwsST(() => dec('I64', BigInt64Array.from([1n, 2147483648n]), 'labels'), /tensor 'labels'.*I64 element 1 is 2147483648.*int32/);
  throwsST(() => dec('I64', BigInt64Array.from([-2147483649n]), 'x'), /tensor 'x'.*-2147483649/);
  throwsST(() => dec('I64', BigInt64Array.from([-(2n ** 63n)]), 'x'), /-9223372036854775808/);
  throwsST(() => dec('U64', BigUint64Array.from([2n ** 64n - 1n]), 'u'), /tensor 'u'.*18446744073709551615/);
  throwsST(() => dec('U32', Uint32Array.from([2147483648]), 'v'), /tensor 'v'.*U32 element 0 is 2147483648/);
  const b = decodeEntry({ dtype: 'BOOL', shape: [4], data: Uint8Array.from([0, 1, 2, 255]) });
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(Array.from(b.data), [0, 1, 1, 1]);
  throwsST(
    () => decodeEntry({ dtype: 'F32', shape: [2], data: new Uint8Array(4) }, 'w'),
    /tensor 'w'.*\[2\] of F32 does not match 4 data bytes/,
  );
  throwsST(() => decodeEntry({ dtype: 'Q4', shape: [2], data: new Uint8Array(4) }, 'w'), /unknown dtype "Q4"/);
});

// ---------------------------------------------------------------- malformed files

const okEntry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

test('malformed: file shorter than 8 bytes', () => {
  throwsST(() => parseSafetensors(new Uint8Array(5)), /file is 5 bytes, too short/);
  throwsST(() => parseSafetensors(new Uint8Array(0), 'm.safetensors'), /^safetensors: m\.safetensors: file is 0 bytes/);
});

test('malformed: header length beyond the file, huge, or over the limit', () => {
  const f = new Uint8Array(1024);
  new DataView(f.buffer).setBigUint64(0, 9007199254740993n, true);
  throwsST(() => parseSafetensors(f), /^safetensors: header length 9007199254740993 exceeds file size 1024$/);
  throwsST(
    () => parseSafetensors(f, 'model.safetensors'),
    /^safetensors: model\.safetensors: header length 9007199254740993 exceeds file size 1024$/,
  );
  new DataView(f.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
  throwsST(() => parseSafetensors(f), /header length 18446744073709551615 exceeds file size 1024/);
  new DataView(f.buffer).setBigUint64(0, 1017n, true);
  throwsST(() => parseSafetensors(f), /header length 1017 exceeds file size 1024/);
  const big = new Uint8Array(MAX_HEADER_BYTES + 16);
  new DataView(big.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
  throwsST(() => parseSafetensors(big), /header length 100000001 exceeds the limit of 100000000 bytes/);
});

test('malformed: header not JSON, not UTF-8, not an object', () => {
  throwsST(() => parseSafetensors(makeFile('{"a": ')), /header is not valid JSON: /);
  throwsST(() => parseSafetensors(makeFile('')), /header is not valid JSON/);
  throwsST(() => parseSafetensors(makeFile('{}\0\0')), /header is not valid JSON/);
  const bad = makeFile('{"a":1}');
  bad[10] = 0xff;
  throwsST(() => parseSafetensors(bad), /header is not valid UTF-8/);
  throwsST(() => parseSafetensors(makeFile('[1,2]')), /header is not a JSON object \(got an array\)/);
  throwsST(() => parseSafetensors(makeFile('null')), /header is not a JSON object \(got null\)/);
  throwsST(() => parseSafetensors(makeFile('"x"')), /header is not a JSON object \(got string\)/);
  throwsST(() => parseSafetensors(makeFile('7')), /not a JSON object \(got number\)/);
});

test('malformed: entries', () => {
  const p =
    (h: unknown, data = 8) =>
    () =>
      parseSafetensors(makeFile(h, data));
  throwsST(p({ w: 5 }), /tensor 'w': entry is number, expected an object/);
  throwsST(p({ w: { ...okEntry, extra: 1 } }), /tensor 'w': unknown key 'extra'/);
  throwsST(p({ w: { shape: [2], data_offsets: [0, 8] } }), /tensor 'w': missing 'dtype'/);
  throwsST(p({ w: { dtype: 'F32', data_offsets: [0, 8] } }), /tensor 'w': missing 'shape'/);
  throwsST(p({ w: { dtype: 'F32', shape: [2] } }), /tensor 'w': missing 'data_offsets'/);
  throwsST(p({ w: { ...okEntry, dtype: 'F33' } }), /tensor 'w': unknown dtype "F33" \(expected one of BOOL, .*F64\)/);
  throwsST(p({ w: { ...okEntry, dtype: 'f32' } }), /unknown dtype "f32"/);
  throwsST(p({ w: { ...okEntry, dtype: 4 } }), /unknown dtype 4/);
  throwsST(p({ w: { ...okEntry, dtype: 'constructor' } }), /unknown dtype "constructor"/);
  throwsST(p({ w: { ...okEntry, shape: [-2] } }), /tensor 'w': bad shape \[-2\]: expected an array of non-negative integers/);
  throwsST(p({ w: { ...okEntry, shape: [1.5] } }), /bad shape \[1\.5\]/);
  throwsST(p({ w: { ...okEntry, shape: ['2'] } }), /bad shape \["2"\]/);
  throwsST(p({ w: { ...okEntry, shape: 2 } }), /bad shape 2/);
  throwsST(p({ w: { ...okEntry, shape: null } }), /bad shape null/);
  throwsST(() => parseSafetensors(makeFile('{"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', 8)), /bad shape/);
  throwsST(p({ w: { ...okEntry, data_offsets: [0] } }), /tensor 'w': bad data_offsets \[0\]/);
  throwsST(p({ w: { ...okEntry, data_offsets: [0, 8, 16] } }), /bad data_offsets/);
  throwsST(p({ w: { ...okEntry, data_offsets: [-8, 0] } }), /bad data_offsets \[-8,0\]/);
  throwsST(p({ w: { ...okEntry, data_offsets: [0, 8.5] } }), /bad data_offsets/);
  throwsST(p({ w: { ...okEntry, data_offsets: [8, 0] } }), /tensor 'w': data_offsets \[8,0\] end before they begin/);
  throwsST(p({ w: { ...okEntry, data_offsets: [0, 8] } }, 4), /tensor 'w': data_offsets \[0,8\] lie outside the data section of 4 bytes/);
  throwsST(p({ w: { ...okEntry, data_offsets: [8, 16] } }, 12), /outside the data section of 12 bytes/);
  throwsST(p({ w: { ...okEntry, data_offsets: [0, 2 ** 53] } }), /bad data_offsets/);
  throwsST(
    p({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 24),
    /tensor 'w': shape \[2,3\] of F32 needs 24 bytes but data_offsets \[0,20\] hold 20 bytes/,
  );
  throwsST(p({ w: { dtype: 'F32', shape: [2 ** 52, 2 ** 52, 0, 3], data_offsets: [0, 4] } }), /needs 0 bytes but .* hold 4 bytes/);
  throwsST(p({ w: { dtype: 'I64', shape: [], data_offsets: [0, 4] } }), /shape \[\] of I64 needs 8 bytes but .* hold 4 bytes/);
});

test('malformed: overlapping tensors', () => {
  const h = {
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
  };
  throwsST(() => parseSafetensors(makeFile(h, 16)), /tensors 'a' \[0,16\] and 'b' \[8,16\] overlap/);
  const h2 = {
    a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    b: { dtype: 'F32', shape: [4], data_offsets: [4, 20] },
    c: { dtype: 'F32', shape: [1], data_offsets: [12, 16] },
  };
  throwsST(() => parseSafetensors(makeFile(h2, 20)), /'b' \[4,20\] and 'c' \[12,16\] overlap/);
  // empty tensors take no bytes and may sit anywhere
  const h3 = {
    a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
  };
  assert.equal(parseSafetensors(makeFile(h3, 8)).entries.get('e')!.data.length, 0);
});

test('malformed: metadata', () => {
  throwsST(() => parseSafetensors(makeFile({ __metadata__: { a: 1 } })), /__metadata__ value for 'a' is number, expected a string/);
  throwsST(() => parseSafetensors(makeFile({ __metadata__: { a: { b: 'c' } } })), /__metadata__ value for 'a' is an object/);
  throwsST(() => parseSafetensors(makeFile({ __metadata__: ['a'] })), /__metadata__ is an array, expected an object of strings/);
  throwsST(() => parseSafetensors(makeFile({ __metadata__: 'x' })), /__metadata__ is string/);
  assert.deepEqual(parseSafetensors(makeFile({ __metadata__: null })).metadata, {});
  assert.deepEqual(parseSafetensors(makeFile({ __metadata__: { a: 'b' } })).metadata, { a: 'b' });
});

test('deeply nested header values give a SafetensorsError, not a stack overflow', () => {
  const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
  throwsST(
    () => parseSafetensors(makeFile(`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,8]}}`, 8)),
    /tensor 'w': bad shape \(an array\)/,
  );
  throwsST(
    () => parseSafetensors(makeFile(`{"w":{"dtype":${deep},"shape":[2],"data_offsets":[0,8]}}`, 8)),
    /tensor 'w': unknown dtype \(an array\)/,
  );
  throwsST(() => parseSafetensors(makeFile(`{"w":{"dtype":"F32","shape":[2],"data_offsets":${deep}}}`, 8)), /tensor 'w': bad data_offsets/);
  throwsST(() => parseSafetensors(makeFile(`{"__metadata__":{"a":${deep}}}`)), /__metadata__ value for 'a' is an array/);
  throwsST(() => parseSafetensors(makeFile(deep)), /not a JSON object/);
});

test('long tensor names are shortened in messages', () => {
  const name = 'x'.repeat(10_000);
  assert.throws(
    () => parseSafetensors(makeFile({ [name]: 1 })),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError);
      assert.ok(e.message.length < 300);
      assert.match(e.message, /tensor 'x+\.\.\.': entry is number/);
      return true;
    },
  );
});

test('accepts a header with trailing spaces, tensors with gaps, and a source-prefixed name', () => {
  const f = makeFile(
    JSON.stringify({ w: { dtype: 'U8', shape: [2], data_offsets: [4, 6] } }) + '     ',
    Uint8Array.from([0, 0, 0, 0, 9, 8]),
  );
  assert.deepEqual(Array.from(decodeEntry(parseSafetensors(f, 'a.st').entries.get('w')!).data), [9, 8]);
});

// ---------------------------------------------------------------- fuzz

/** Parse, and decode whatever parsed; any failure must be a SafetensorsError. */
function parseAndDecode(bytes: Uint8Array): 'ok' | 'error' {
  try {
    const p = parseSafetensors(bytes);
    for (const [name, e] of p.entries) {
      try {
        decodeEntry(e, name);
      } catch (err) {
        if (!(err instanceof SafetensorsError)) throw err;
      }
    }
    return 'ok';
  } catch (err) {
    if (err instanceof SafetensorsError) return 'error';
    throw new Error(`non-SafetensorsError on input ${Buffer.from(bytes).toString('hex').slice(0, 400)}: ${String(err)}`);
  }
}

test('fuzz: every truncation of a small valid file is rejected', () => {
  const f = smallFile();
  assert.equal(parseAndDecode(f), 'ok');
  for (let len = 0; len < f.length; len++) {
    assert.throws(() => parseSafetensors(f.subarray(0, len)), SafetensorsError, `prefix ${len}`);
  }
  // also at an odd byte offset, so every typed-array view is unaligned
  const shifted = new Uint8Array(f.length + 1);
  shifted.set(f, 1);
  assert.equal(parseAndDecode(shifted.subarray(1)), 'ok');
  for (let len = 0; len < f.length; len++) {
    assert.throws(() => parseSafetensors(shifted.subarray(1, 1 + len)), SafetensorsError, `shifted prefix ${len}`);
  }
});

test('fuzz: random bytes', () => {
  const r = rng(1);
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(r() * 200);
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(r() * 256);
    // half the time give it a plausible header length so the JSON stage is reached
    if (len >= 8 && r() < 0.5) new DataView(b.buffer).setBigUint64(0, BigInt(Math.floor(r() * (len - 7))), true);
    parseAndDecode(b);
  }
});

test('fuzz: random header mutations', () => {
  const base = smallFile();
  const n = Number(new DataView(base.buffer).getBigUint64(0, true));
  const alphabet = '{}[]",:0123456789-.eE ntfrualsFIUBD_x\\';
  const r = rng(2);
  let ok = 0,
    err = 0;
  for (let i = 0; i < 20000; i++) {
    const b = base.slice();
    const edits = 1 + Math.floor(r() * 4);
    for (let k = 0; k < edits; k++) {
      const at = 8 + Math.floor(r() * n);
      b[at] = r() < 0.8 ? alphabet.charCodeAt(Math.floor(r() * alphabet.length)) : Math.floor(r() * 256);
    }
    if (r() < 0.05) b[Math.floor(r() * 8)] = Math.floor(r() * 256);
    if (parseAndDecode(b) === 'ok') ok++;
    else err++;
  }
  assert.ok(err > 0);
  assert.ok(ok > 0); // some edits (e.g. inside padding) keep the file valid
});

test('fuzz: structured header mutations', () => {
  const r = rng(3);
  const weird: unknown[] = [
    0,
    -1,
    1.5,
    1e400,
    -0,
    2 ** 53,
    2 ** 31,
    '',
    '4',
    null,
    true,
    [],
    {},
    [1, 2, 3],
    [0, 0],
    [-1, 4],
    [4, 0],
    'F32',
    'BF16',
    'I64',
    'BOOL',
  ];
  const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)]!;
  for (let i = 0; i < 5000; i++) {
    const h: Record<string, unknown> = {
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'I64', shape: [1], data_offsets: [8, 16] },
    };
    const e = h[pick(['a', 'b'])] as Record<string, unknown>;
    const field = pick(['dtype', 'shape', 'data_offsets', 'shape', 'data_offsets']);
    e[field] = r() < 0.5 ? pick(weird) : [pick(weird), pick(weird)];
    const text = JSON.stringify(h, (_k, v) => (v === 1e400 ? '__INF__' : v)).replace(/"__INF__"/g, '1e400');
    parseAndDecode(makeFile(text, Math.floor(r() * 24)));
  }
});
