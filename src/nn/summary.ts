// summary(): a Keras-style table of a model's layers, their output shapes and parameter counts. With
// an input shape it runs one forward pass on zeros (evaluation mode, no graph, inside a scope so
// nothing is left behind), watching every submodule's forward; without one it lists the layers only.
//
// It also installs Module.summary() on the prototype (as train/model.ts installs fit), so module.ts
// knows nothing of this file and no import cycle forms; nn/index.ts imports it, so every entry does.

import '../ops/tensor-methods.js';
import { bytesPerElement, type DType } from '../base/dtype.js';
import { ValueError } from '../errors.js';
import { noGrad } from '../autograd/grad-mode.js';
import { zeros } from '../tensor/create.js';
import { scope } from '../tensor/memory.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

declare module './module.js' {
  interface Module {
    /**
     * Prints and returns a Keras-style table of the layers, their output shapes (from one forward pass
     * on zeros of [1, ...inputShape]; omit it to list layers only) and parameter counts.
     */
    summary(inputShape?: readonly number[] | readonly (readonly number[])[] | null, opts?: SummaryOptions): string;
  }
}

/** Options of summary(): the batch size, dtype, device or input it runs, and where it prints. */
export interface SummaryOptions {
  /** Batch size of the zeros fed through the model (default 1; shown as None, as Keras does). */
  batchSize?: number;
  /** dtype of the zeros (default float32; int32 for models that start with an Embedding). */
  dtype?: DType;
  /** Device of the zeros (default: the model's). */
  device?: string;
  /** A real input to run instead of zeros (its first dim is the batch). */
  input?: Tensor | readonly Tensor[];
  /** Where each line goes (default console.log); null to only return the string. */
  printFn?: ((line: string) => void) | null;
}

interface Row {
  name: string;
  type: string;
  shape: string;
  params: number;
}

/**
 * One input shape, or one per input.
 * @inline
 */
type Shapes = readonly number[] | readonly (readonly number[])[];

const fmtInt = (n: number): string => n.toLocaleString('en-US');

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

/** An output as Keras prints it: the batch dim as None, tuples of shapes for several outputs. */
function fmtOutput(out: unknown, batch: number): string {
  if (out instanceof Tensor) {
    const dims = out.shape.map((d, i) => (i === 0 && d === batch ? 'None' : String(d)));
    return dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  }
  if (Array.isArray(out)) return `[${out.map((o) => fmtOutput(o, batch)).join(', ')}]`;
  if (out && typeof out === 'object' && Object.getPrototypeOf(out) === Object.prototype) {
    return `{${Object.entries(out)
      .map(([k, v]) => `${k}: ${fmtOutput(v, batch)}`)
      .join(', ')}}`;
  }
  return '?';
}

/** Parameters held by m itself, not by its submodules. */
function ownParamCount(m: Module): number {
  return m
    .namedParameters()
    .filter(([k]) => !k.includes('.'))
    .reduce((s, [, p]) => s + p.size, 0);
}

/** A module earns a row if it is a leaf (no submodules) or holds parameters of its own. */
function isRowModule(m: Module): boolean {
  return m.namedChildren().length === 0 || ownParamCount(m) > 0;
}

function isShapeList(s: Shapes): s is readonly (readonly number[])[] {
  return s.length > 0 && Array.isArray(s[0]);
}

/** Runs model on its input while every submodule's forward reports its output. Rows in call order. */
function traceRows(model: Module, inputs: () => Tensor[], batch: number): Row[] {
  const rows = new Map<Module, Row>();
  const names = new Map<Module, string>();
  for (const [name, m] of model.namedModules()) if (!names.has(m)) names.set(m, name);
  const patched: [Module, PropertyDescriptor | undefined][] = [];
  const modes = model.modules().map((m) => [m, m.training] as const);
  try {
    for (const [m, name] of names) {
      if (!isRowModule(m)) continue;
      patched.push([m, Object.getOwnPropertyDescriptor(m, 'forward')]);
      const original = m.forward;
      // an own property shadows the class's forward for this one instance, until restored below
      Object.defineProperty(m, 'forward', {
        configurable: true,
        writable: true,
        enumerable: false,
        value: (...args: unknown[]) => {
          let row = rows.get(m);
          if (!row) rows.set(m, (row = { name, type: m.name, shape: '?', params: ownParamCount(m) }));
          const out = original.apply(m, args);
          row.shape = fmtOutput(out, batch);
          return out;
        },
      });
    }
    model.eval();
    scope(() => {
      noGrad(() => {
        model.forward(...inputs());
      });
    });
  } finally {
    for (const [m, desc] of patched) {
      if (desc) Object.defineProperty(m, 'forward', desc);
      else delete (m as { forward?: unknown }).forward;
    }
    for (const [m, mode] of modes) m.training = mode;
  }
  const out = [...rows.values()];
  // layers the forward pass never called still hold parameters: list them after the others
  for (const [m, name] of names) {
    if (!rows.has(m) && isRowModule(m)) out.push({ name, type: m.name, shape: 'not called', params: ownParamCount(m) });
  }
  return out;
}

function staticRows(model: Module): Row[] {
  const rows: Row[] = [];
  const seen = new Set<Module>();
  for (const [name, m] of model.namedModules()) {
    if (seen.has(m) || !isRowModule(m)) continue;
    seen.add(m);
    rows.push({ name, type: m.name, shape: '?', params: ownParamCount(m) });
  }
  return rows;
}

/**
 * A Keras-like table of model's layers: name (type), output shape and parameter count, then total,
 * trainable and non-trainable parameters. inputShape excludes the batch dim (e.g. [1, 28, 28]); give
 * a list of shapes for a model with several inputs. Prints each line (see opts.printFn) and returns
 * the whole table.
 */
export function summary(model: Module, inputShape?: Shapes | null, opts: SummaryOptions = {}): string {
  const batch = opts.input ? ([opts.input].flat()[0]?.shape[0] ?? 1) : (opts.batchSize ?? 1);
  if (!Number.isInteger(batch) || batch < 1) throw new ValueError('summary', `batchSize must be a positive integer, got ${batch}`);
  let rows: Row[];
  if (opts.input) {
    const given = [opts.input].flat() as Tensor[];
    rows = traceRows(model, () => given, batch);
  } else if (inputShape) {
    const shapes = isShapeList(inputShape) ? inputShape : [inputShape as readonly number[]];
    for (const s of shapes) {
      if (!s.every((d) => Number.isInteger(d) && d >= 0))
        throw new ValueError('summary', `input shape must be non-negative integers, got ${JSON.stringify(s)}`);
    }
    rows = traceRows(
      model,
      () => shapes.map((s) => zeros([batch, ...s], { dtype: opts.dtype, device: opts.device ?? model.device })),
      batch,
    );
  } else {
    rows = staticRows(model);
  }

  const params = model.parameters();
  const total = params.reduce((s, p) => s + p.size, 0);
  const trainable = params.filter((p) => p.requiresGrad).reduce((s, p) => s + p.size, 0);
  const bytes = (ps: typeof params) => ps.reduce((s, p) => s + p.size * bytesPerElement(p.dtype), 0);

  const head = ['Layer (type)', 'Output Shape', 'Param #'];
  // the model itself gets a row only when it holds parameters of its own (or is a single layer)
  const cells = rows.map((r) => [r.name ? `${r.name} (${r.type})` : r.type, r.shape, fmtInt(r.params)]);
  const w0 = Math.max(29, ...cells.map((c) => c[0]!.length + 2));
  const w1 = Math.max(26, ...cells.map((c) => c[1]!.length + 2));
  const w2 = Math.max(10, ...cells.map((c) => c[2]!.length));
  const line = (c: string[]) => ` ${c[0]!.padEnd(w0 - 1)}${c[1]!.padEnd(w1)}${c[2]!}`.trimEnd();
  const width = w0 + w1 + w2;
  const lines = [
    `Model: "${model.name}"`,
    '_'.repeat(width),
    line(head),
    '='.repeat(width),
    ...cells.map(line),
    '='.repeat(width),
    `Total params: ${fmtInt(total)} (${fmtBytes(bytes(params))})`,
    `Trainable params: ${fmtInt(trainable)} (${fmtBytes(bytes(params.filter((p) => p.requiresGrad)))})`,
    `Non-trainable params: ${fmtInt(total - trainable)} (${fmtBytes(bytes(params.filter((p) => !p.requiresGrad)))})`,
    '_'.repeat(width),
  ];
  const printFn = opts.printFn === undefined ? console.log : opts.printFn;
  if (printFn) for (const l of lines) printFn(l);
  return lines.join('\n');
}

// Non-enumerable and writable, as a class method is.
Object.defineProperty(Module.prototype, 'summary', {
  value: function (this: Module, inputShape?: Shapes | null, opts: SummaryOptions = {}): string {
    return summary(this, inputShape, opts);
  },
  writable: true,
  configurable: true,
});
