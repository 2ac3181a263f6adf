// safetensors: an 8-byte little-endian header length N, N bytes of JSON describing each tensor
// ({dtype, shape, data_offsets}) plus an optional "__metadata__" map of strings, then the raw
// little-endian data. This file holds the byte-level part (parse, decode, encode) and knows nothing
// of Tensor, so it can be tested alone; safetensors-tensors.ts builds mox tensors on top of it, and
// safetensors.ts is the one entry point for both.
//
// The parser trusts nothing in the file: every length, offset and shape is checked before it is used,
// and every problem is a SafetensorsError that says which tensor and which numbers are wrong.

import { SafetensorsError, fmtShape } from '../errors.js';
import type { DType, TypedArray } from '../base/dtype.js';
import { bfloat16ToFloat32, float8e4m3ToFloat32, float8e5m2ToFloat32, halfToFloat32 } from '../base/float16.js';

/** Bytes per element of each safetensors dtype. F8 types are read (widened to float32), never written. */
const ELEMENT_SIZE: ReadonlyMap<string, number> = new Map([
  ['BOOL', 1],
  ['U8', 1],
  ['I8', 1],
  ['F8_E4M3', 1],
  ['F8_E5M2', 1],
  ['U16', 2],
  ['I16', 2],
  ['F16', 2],
  ['BF16', 2],
  ['U32', 4],
  ['I32', 4],
  ['F32', 4],
  ['U64', 8],
  ['I64', 8],
  ['F64', 8],
]);

/** The same cap the reference implementation uses; it keeps a corrupt length from allocating gigabytes. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  /** The safetensors dtype, e.g. 'F32', 'BF16', 'I64'. */
  dtype: string;
  shape: number[];
  /** The tensor's raw bytes: a view into the parsed file, possibly unaligned. */
  data: Uint8Array;
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  /** Tensors in header order. */
  entries: Map<string, SafetensorsEntry>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A name as messages show it: quoted, and cut short so a megabyte-long key cannot flood a log. */
function q(name: string): string {
  return `'${name.length > 80 ? name.slice(0, 77) + '...' : name}'`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

/** A value from the header as messages show it, shortened. A hostile header can nest arrays a million
 *  deep, which overflows the stack in JSON.stringify; then only its kind is shown. */
function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = `(${describe(v)})`;
  }
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Product of a shape as a BigInt, so no shape can overflow into a wrong byte count. */
function elementCount(shape: readonly number[]): bigint {
  let n = 1n;
  for (const d of shape) n *= BigInt(d);
  return n;
}

/** Parses and validates a whole safetensors file. `source` (a file name) is added to error messages. */
export function parseSafetensors(bytes: Uint8Array, source?: string): ParsedSafetensors {
  const prefix = source !== undefined && source !== '' ? `${source}: ` : '';
  const fail = (msg: string) => new SafetensorsError('safetensors', prefix + msg);

  if (!(bytes instanceof Uint8Array)) throw fail(`expected the file's bytes as a Uint8Array, got ${describe(bytes)}`);
  if (bytes.length < 8) {
    throw fail(`file is ${bytes.length} bytes, too short to hold the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen64 = view.getBigUint64(0, true);
  if (headerLen64 > BigInt(bytes.length - 8)) {
    throw fail(`header length ${headerLen64} exceeds file size ${bytes.length}`);
  }
  if (headerLen64 > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${headerLen64} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const headerLen = Number(headerLen64);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(header)) throw fail(`header is not a JSON object (got ${describe(header)})`);

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  const ranges: { name: string; begin: number; end: number }[] = [];

  for (const name of Object.keys(header)) {
    const value = header[name];
    if (name === '__metadata__') {
      metadata = parseMetadata(value, fail);
      continue;
    }
    const t = `tensor ${q(name)}`;
    if (!isPlainObject(value)) throw fail(`${t}: entry is ${describe(value)}, expected an object`);
    for (const key of Object.keys(value)) {
      if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
        throw fail(`${t}: unknown key ${q(key)} (expected dtype, shape, data_offsets)`);
      }
    }

    const dtype = value['dtype'];
    if (dtype === undefined) throw fail(`${t}: missing 'dtype'`);
    const size = typeof dtype === 'string' ? ELEMENT_SIZE.get(dtype) : undefined;
    if (typeof dtype !== 'string' || size === undefined) {
      throw fail(`${t}: unknown dtype ${show(dtype)} (expected one of ${[...ELEMENT_SIZE.keys()].join(', ')})`);
    }

    const shape = value['shape'];
    if (shape === undefined) throw fail(`${t}: missing 'shape'`);
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`${t}: bad shape ${show(shape)}: expected an array of non-negative integers`);
    }

    const offsets = value['data_offsets'];
    if (offsets === undefined) throw fail(`${t}: missing 'data_offsets'`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
    ) {
      throw fail(`${t}: bad data_offsets ${show(offsets)}: expected [begin, end], two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw fail(`${t}: data_offsets [${begin},${end}] end before they begin`);
    if (end > dataLen) {
      throw fail(`${t}: data_offsets [${begin},${end}] lie outside the data section of ${dataLen} bytes`);
    }
    const needed = elementCount(shape as number[]) * BigInt(size);
    if (needed !== BigInt(end - begin)) {
      throw fail(
        `${t}: shape ${fmtShape(shape as number[])} of ${dtype} needs ${needed} bytes ` +
          `but data_offsets [${begin},${end}] hold ${end - begin} bytes`,
      );
    }

    entries.set(name, {
      dtype,
      shape: (shape as number[]).slice(),
      data: bytes.subarray(dataStart + begin, dataStart + end),
    });
    if (end > begin) ranges.push({ name, begin, end });
  }

  // Two tensors sharing bytes would alias each other's data: reject. (Empty tensors take no bytes.)
  ranges.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1]!,
      b = ranges[i]!;
    if (b.begin < a.end) {
      throw fail(`tensors ${q(a.name)} [${a.begin},${a.end}] and ${q(b.name)} [${b.begin},${b.end}] overlap`);
    }
  }
  return { metadata, entries };
}

function parseMetadata(value: unknown, fail: (msg: string) => SafetensorsError): Record<string, string> {
  if (value === null) return {}; // serde's Option accepts null, so the reference reader does too
  if (!isPlainObject(value)) throw fail(`__metadata__ is ${describe(value)}, expected an object of strings`);
  const pairs: [string, string][] = [];
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (typeof v !== 'string') throw fail(`__metadata__ value for ${q(key)} is ${describe(v)}, expected a string`);
    pairs.push([key, v]);
  }
  return Object.fromEntries(pairs); // defines own properties, so a key like "__proto__" is just a key
}

/** Copies `data` into a fresh, aligned buffer in host byte order. */
function alignedCopy(data: Uint8Array, size: number): ArrayBuffer {
  // Not data.slice(): on a Node Buffer that returns a view of the same memory, not a copy.
  const copy = new Uint8Array(data.length);
  copy.set(data);
  if (!LITTLE_ENDIAN && size > 1) swapBytes(copy, size);
  return copy.buffer;
}

function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo]!;
      b[lo] = b[hi]!;
      b[hi] = t;
    }
  }
}

/**
 * Converts one parsed entry to a mox dtype and a fresh typed array (never a view of the file).
 * Floats of every width become float32 (F64 stays float64); integers become int32 when every value
 * fits, else a SafetensorsError names the tensor and the first value that does not; BOOL becomes bool.
 */
export function decodeEntry(entry: SafetensorsEntry, name = 'tensor', source?: string): { dtype: DType; data: TypedArray } {
  const t = `${source !== undefined && source !== '' ? `${source}: ` : ''}tensor ${q(name)}`;
  const fail = (msg: string) => new SafetensorsError('safetensors', `${t}: ${msg}`);
  const size = ELEMENT_SIZE.get(entry.dtype);
  if (size === undefined) throw fail(`unknown dtype ${show(entry.dtype)}`);
  if (!Array.isArray(entry.shape) || !entry.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`bad shape ${show(entry.shape)}`);
  }
  if (!(entry.data instanceof Uint8Array) || elementCount(entry.shape) * BigInt(size) !== BigInt(entry.data.length)) {
    throw fail(`shape ${fmtShape(entry.shape)} of ${entry.dtype} does not match ${entry.data?.length} data bytes`);
  }
  const data = entry.data;
  const n = data.length / size;
  const tooBig = (i: number, v: bigint | number) => fail(`${entry.dtype} element ${i} is ${v}, which does not fit in int32`);

  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', data: new Float32Array(alignedCopy(data, 4)) };
    case 'F64':
      return { dtype: 'float64', data: new Float64Array(alignedCopy(data, 8)) };
    case 'I32':
      return { dtype: 'int32', data: new Int32Array(alignedCopy(data, 4)) };
    case 'F16':
      return { dtype: 'float32', data: halfToFloat32(new Uint16Array(alignedCopy(data, 2))) };
    case 'BF16':
      return { dtype: 'float32', data: bfloat16ToFloat32(new Uint16Array(alignedCopy(data, 2))) };
    case 'F8_E4M3':
      return { dtype: 'float32', data: float8e4m3ToFloat32(data) };
    case 'F8_E5M2':
      return { dtype: 'float32', data: float8e5m2ToFloat32(data) };
    case 'BOOL': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i] !== 0 ? 1 : 0;
      return { dtype: 'bool', data: out };
    }
    case 'U8':
      return { dtype: 'int32', data: Int32Array.from(data) };
    case 'I8':
      return { dtype: 'int32', data: Int32Array.from(new Int8Array(data.buffer, data.byteOffset, n)) };
    case 'U16':
      return { dtype: 'int32', data: Int32Array.from(new Uint16Array(alignedCopy(data, 2))) };
    case 'I16':
      return { dtype: 'int32', data: Int32Array.from(new Int16Array(alignedCopy(data, 2))) };
    case 'U32': {
      const src = new Uint32Array(alignedCopy(data, 4));
      for (let i = 0; i < n; i++) if (src[i]! > 0x7fffffff) throw tooBig(i, src[i]!);
      return { dtype: 'int32', data: new Int32Array(src.buffer) };
    }
    case 'I64':
    case 'U64': {
      // Read each 64-bit value as (low, high) 32-bit words: it fits in int32 exactly when the high word
      // is the sign extension of the low one (and, for U64, the value is non-negative).
      const words = new Int32Array(alignedCopy(data, 8));
      if (!LITTLE_ENDIAN)
        for (let i = 0; i < n; i++) {
          const lo = words[2 * i + 1]!;
          words[2 * i + 1] = words[2 * i]!;
          words[2 * i] = lo;
        }
      const out = new Int32Array(n);
      const signed = entry.dtype === 'I64';
      for (let i = 0; i < n; i++) {
        const lo = words[2 * i]!,
          hi = words[2 * i + 1]!;
        if (signed ? hi !== lo >> 31 : hi !== 0 || lo < 0) {
          const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
          throw tooBig(i, signed ? BigInt.asIntN(64, v) : v);
        }
        out[i] = lo;
      }
      return { dtype: 'int32', data: out };
    }
  }
  throw fail(`unknown dtype ${show(entry.dtype)}`);
}

/** Decodes every entry of a parsed file; see decodeEntry for the dtype mapping. `source` (a file name) goes into errors. */
export function decodeSafetensors(
  parsed: ParsedSafetensors,
  source?: string,
): Record<string, { dtype: DType; shape: number[]; data: TypedArray }> {
  const out: [string, { dtype: DType; shape: number[]; data: TypedArray }][] = [];
  for (const [name, entry] of parsed.entries) {
    const { dtype, data } = decodeEntry(entry, name, source);
    out.push([name, { dtype, shape: entry.shape.slice(), data }]);
  }
  return Object.fromEntries(out);
}

const WRITE_DTYPE: Record<
  DType,
  { st: string; size: number; array: Float64ArrayConstructor | Float32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor }
> = {
  float64: { st: 'F64', size: 8, array: Float64Array },
  float32: { st: 'F32', size: 4, array: Float32Array },
  int32: { st: 'I32', size: 4, array: Int32Array },
  bool: { st: 'BOOL', size: 1, array: Uint8Array },
};

export interface RawTensor {
  dtype: DType;
  shape: readonly number[];
  data: TypedArray;
}

/**
 * A tensor already encoded as the file stores it: `dtype` a safetensors dtype (e.g. 'I8', 'U8', 'F16'
 * for quantized weights and their scales), `bytes` its little-endian data, shape's count times the
 * dtype's size.
 */
export interface EncodedTensor {
  dtype: string;
  shape: readonly number[];
  bytes: Uint8Array;
}

function isEncoded(v: unknown): v is EncodedTensor {
  return isPlainObject(v) && v['bytes'] instanceof Uint8Array && typeof v['dtype'] === 'string';
}

/**
 * Writes tensors (float32, float64, int32, bool, or already encoded: EncodedTensor) and string metadata as a safetensors file.
 * The header lists tensors in sorted-name order and is space-padded to a multiple of 8 bytes. The data
 * section is packed with no gaps (the reference reader rejects gaps), wider dtypes first and then by
 * name, so every tensor starts at an offset that is a multiple of its element size.
 */
export function encodeSafetensors(tensors: Record<string, RawTensor | EncodedTensor>, metadata?: Record<string, string>): Uint8Array {
  const fail = (msg: string) => new SafetensorsError('safetensors', msg);
  if (!isPlainObject(tensors)) throw fail(`expected an object of tensors, got ${describe(tensors)}`);
  const names = Object.keys(tensors).sort();
  const items = names.map((name) => {
    const t = `tensor ${q(name)}`;
    if (name === '__metadata__') throw fail(`the name '__metadata__' is reserved for metadata`);
    const raw = tensors[name];
    if (!isPlainObject(raw)) throw fail(`${t}: expected {dtype, shape, data}, got ${describe(raw)}`);
    if (isEncoded(raw)) {
      const size = ELEMENT_SIZE.get(raw.dtype);
      if (size === undefined || raw.dtype === 'BOOL') throw fail(`${t}: unknown encoded dtype ${show(raw.dtype)}`);
      if (!Array.isArray(raw.shape) || !raw.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        throw fail(`${t}: bad shape ${show(raw.shape)}`);
      if (elementCount(raw.shape) * BigInt(size) !== BigInt(raw.bytes.length))
        throw fail(
          `${t}: shape ${fmtShape(raw.shape)} of ${raw.dtype} needs ${elementCount(raw.shape) * BigInt(size)} bytes, got ${raw.bytes.length}`,
        );
      return { name, st: raw.dtype, size, shape: raw.shape.slice(), data: raw.bytes as TypedArray, begin: 0, end: 0, encoded: true };
    }
    const kind = Object.hasOwn(WRITE_DTYPE, raw.dtype) ? WRITE_DTYPE[raw.dtype] : undefined;
    if (kind === undefined) throw fail(`${t}: cannot write dtype ${show(raw.dtype)} (expected float32, float64, int32 or bool)`);
    const shape = raw.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(`${t}: bad shape ${show(shape)}: expected an array of non-negative integers`);
    }
    if (!(raw.data instanceof kind.array)) {
      throw fail(
        `${t}: dtype ${raw.dtype} needs a ${kind.array.name}, got ${describe(raw.data)}` +
          `${raw.data && typeof raw.data === 'object' ? ` (${raw.data.constructor?.name})` : ''}`,
      );
    }
    if (BigInt(raw.data.length) !== elementCount(shape)) {
      throw fail(`${t}: shape ${fmtShape(shape)} needs ${elementCount(shape)} elements but data has ${raw.data.length}`);
    }
    return { name, st: kind.st, size: kind.size, shape: shape.slice(), data: raw.data, begin: 0, end: 0, encoded: false };
  });

  const layout = items.slice().sort((a, b) => b.size - a.size); // stable: names stay sorted within a width
  let offset = 0;
  for (const it of layout) {
    it.begin = offset;
    offset += it.encoded ? it.data.byteLength : it.data.length * it.size;
    it.end = offset;
  }

  // Built by hand rather than JSON.stringify(object) so integer-like names ("0", "1") keep sorted order.
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = parseMetadata(metadata, fail);
    parts.push(`"__metadata__":${JSON.stringify(meta)}`);
  }
  for (const it of items) {
    parts.push(`${JSON.stringify(it.name)}:${JSON.stringify({ dtype: it.st, shape: it.shape, data_offsets: [it.begin, it.end] })}`);
  }
  const header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(header.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw fail(`header would be ${padded} bytes, over the limit of ${MAX_HEADER_BYTES}`);

  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(header, 8);
  out.fill(0x20, 8 + header.length, 8 + padded);
  const dataStart = 8 + padded;
  for (const it of layout) {
    const bytes = new Uint8Array(it.data.buffer, it.data.byteOffset, it.data.byteLength);
    const dst = out.subarray(dataStart + it.begin, dataStart + it.end);
    if (it.st === 'BOOL') {
      for (let i = 0; i < bytes.length; i++) dst[i] = bytes[i] !== 0 ? 1 : 0;
    } else {
      dst.set(bytes);
      if (!LITTLE_ENDIAN && !it.encoded) swapBytes(dst, it.size);
    }
  }
  return out;
}
