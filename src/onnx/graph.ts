// An ONNX graph under construction, and its encoding into a ModelProto with protobufjs (the schema is
// onnx-proto.ts). The builder hands out fresh value names, keeps the nodes in the order they were
// added (already topological: a node only reads values made before it), the initializers (weights and
// constants, written once per tensor even when shared, as a tied embedding), and the graph's inputs
// and outputs with their element types and shapes (a string dimension is symbolic: 'batch', 'sequence').

import protobuf from 'protobufjs/light.js';
import { ValueError } from '../errors.js';
import { ONNX_PROTO_JSON } from './onnx-proto.js';

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;
export const ONNX_BOOL = 9;

/** The IR version that goes with opsets 17 and 18 (ONNX 1.12 / 1.13). */
export const IR_VERSION = 8;

/** An attribute value: a number (an int unless `float` marks it), a list of ints, a float list, a string. */
export type AttrValue = number | readonly number[] | string | { float: number } | { floats: readonly number[] };

/**
 * A dimension of a graph input or output: a size, or a name for a size given at run time.
 * @inline
 */
export type Dim = number | string;

interface AttributeObj {
  name: string;
  type: number;
  i?: number;
  f?: number;
  s?: Uint8Array;
  ints?: number[];
  floats?: number[];
}

interface NodeObj {
  input: string[];
  output: string[];
  name: string;
  op_type: string;
  attribute: AttributeObj[];
}

interface TensorObj {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

interface ValueInfoObj {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } } };
}

const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

const isIntList = (v: AttrValue): v is readonly number[] => Array.isArray(v);

function attribute(name: string, v: AttrValue): AttributeObj {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ValueError('onnx', `attribute ${name} must be an integer, got ${v} (use { float } for floats)`);
    return { name, type: ATTR.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: ATTR.STRING, s: new TextEncoder().encode(v) };
  if (isIntList(v)) return { name, type: ATTR.INTS, ints: [...v] };
  if ('float' in v) return { name, type: ATTR.FLOAT, f: v.float };
  return { name, type: ATTR.FLOATS, floats: [...v.floats] };
}

function valueInfo(name: string, elemType: number, dims: readonly Dim[]): ValueInfoObj {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

const bytesOf = (a: Float32Array | Int32Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export class GraphBuilder {
  readonly nodes: NodeObj[] = [];
  readonly initializers: TensorObj[] = [];
  readonly inputs: ValueInfoObj[] = [];
  readonly outputs: ValueInfoObj[] = [];
  readonly #used = new Set<string>();
  readonly #shared = new Map<object, string>();
  #count = 0;

  /** A value name not used yet, from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_.:/-]/g, '_') || 'v';
    let name = base;
    while (this.#used.has(name)) name = `${base}_${++this.#count}`;
    this.#used.add(name);
    return name;
  }

  input(name: string, elemType: number, dims: readonly Dim[]): string {
    const n = this.fresh(name);
    if (n !== name) throw new ValueError('onnx', `the graph input name '${name}' is taken`);
    this.inputs.push(valueInfo(n, elemType, dims));
    return n;
  }

  /** Declares `value` as a graph output named `name` (an Identity node renames it). */
  output(value: string, name: string, elemType: number, dims: readonly Dim[]): void {
    const n = this.fresh(name);
    if (n !== name) throw new ValueError('onnx', `the graph output name '${name}' is taken`);
    this.nodes.push({ input: [value], output: [n], name: n, op_type: 'Identity', attribute: [] });
    this.outputs.push(valueInfo(n, elemType, dims));
  }

  /** Adds a node of `op` and returns its output names (`outputs` of them, default 1). */
  nodeN(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, outputs = 1, hint = op): string[] {
    const out = Array.from({ length: outputs }, (_, i) => this.fresh(outputs === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({
      input: [...inputs],
      output: out,
      name: this.fresh(`${hint}_node`),
      op_type: op,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /** Adds a node of `op` with one output and returns its name. */
  node(op: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, hint = op): string {
    return this.nodeN(op, inputs, attrs, 1, hint)[0]!;
  }

  /**
   * A float32 initializer named after `name`; `key` (the tensor it came from) makes a second call for
   * the same tensor return the first one's name instead of writing the data twice.
   */
  floatInit(name: string, data: Float32Array, dims: readonly number[], key?: object): string {
    if (key !== undefined) {
      const had = this.#shared.get(key);
      if (had !== undefined) return had;
    }
    const n = this.fresh(name);
    this.initializers.push({ name: n, dims: [...dims], data_type: ONNX_FLOAT, raw_data: bytesOf(data) });
    if (key !== undefined) this.#shared.set(key, n);
    return n;
  }

  /** An int64 constant (an initializer): shapes, axes, pads. A number gives a scalar. */
  int64(name: string, values: readonly number[] | number): string {
    const list = typeof values === 'number' ? [values] : values;
    const n = this.fresh(name);
    const data = BigInt64Array.from(list.map((v) => BigInt(v)));
    this.initializers.push({
      name: n,
      dims: typeof values === 'number' ? [] : [list.length],
      data_type: ONNX_INT64,
      raw_data: bytesOf(data),
    });
    return n;
  }

  /** A float32 scalar constant. */
  scalar(name: string, value: number): string {
    return this.floatInit(name, Float32Array.of(value), []);
  }
}

/** A protobuf message is at most 2 GiB; an ONNX model past it keeps its weights in external files. */
const PROTOBUF_LIMIT = 2 ** 31 - 2 ** 20;

let cachedRoot: protobuf.Root | null = null;
function modelType(): protobuf.Type {
  cachedRoot ??= protobuf.Root.fromJSON(ONNX_PROTO_JSON);
  return cachedRoot.lookupType('onnx.ModelProto');
}

export interface EncodeOptions {
  opset: number;
  graphName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** The ModelProto bytes of the graph: one opset import (the default domain). */
export function encodeModel(g: GraphBuilder, opts: EncodeOptions): Uint8Array {
  const weightBytes = g.initializers.reduce((n, t) => n + t.raw_data.byteLength, 0);
  if (weightBytes >= PROTOBUF_LIMIT)
    throw new ValueError(
      'onnx',
      `the weights take ${(weightBytes / 2 ** 30).toFixed(2)} GiB, over the 2 GiB a protobuf file can hold (ONNX's external data files are not written)`,
    );
  const T = modelType();
  const model = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: '', version: opts.opset }],
    producer_name: 'mox',
    producer_version: opts.producerVersion,
    doc_string: opts.docString ?? '',
    graph: {
      node: g.nodes,
      name: opts.graphName,
      initializer: g.initializers,
      input: g.inputs,
      output: g.outputs,
    },
    metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const problem = T.verify(model);
  if (problem) throw new ValueError('onnx', `the model does not fit ONNX's schema: ${problem}`);
  return T.encode(T.fromObject(model)).finish();
}

/** Decodes ModelProto bytes into a plain object (for tests and tools: op types, opset, shapes). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const T = modelType();
  return T.toObject(T.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
