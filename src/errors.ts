// Typed errors. Every message names the operation first and then the shapes, dtypes or bytes at fault,
// e.g. `matmul: inner dimensions differ: [32,784] @ [128,10]`, so a user can find the line that caused it.

/** Base class of mox's errors; its message starts with the operation at fault ("matmul: ..."). */
export class MoxError extends Error {
  /** The operation that raised the error, e.g. 'matmul' or 'safetensors'. */
  readonly op: string;
  /** An error of operation `op`; the message becomes "op: message". */
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.op = op;
    this.name = new.target.name;
  }
}

/** Shapes that do not fit together: broadcasting, matmul dimensions, reshape sizes, concat. */
export class ShapeError extends MoxError {}

/** A dtype the operation does not accept, or two dtypes that cannot be combined. */
export class DTypeError extends MoxError {}

/** An index or axis out of range. */
export class IndexError extends MoxError {}

/** An argument with a bad value (negative size, unknown option, ...). */
export class ValueError extends MoxError {}

/** Use of a tensor after dispose(). */
export class DisposedError extends MoxError {}

/** Misuse of autograd: backward on a non-scalar without a gradient, on a tensor that needs no grad, ... */
export class AutogradError extends MoxError {}

/**
 * A NaN or infinite value found by anomaly mode (mox.detectAnomaly / mox.setDetectAnomaly): in the
 * gradient an op's backward returned, or in the forward value an op computed from finite inputs.
 * The message names the op, the input the gradient was for, and where the op was recorded.
 */
export class AnomalyError extends MoxError {
  /** An anomaly found in op `node` (see the fields). */
  constructor(
    message: string,
    /** The op at fault, e.g. 'log'. */
    readonly node: string,
    /** 'backward': a gradient the op returned; 'forward': the value the op computed. */
    readonly phase: 'forward' | 'backward',
    /** The input at fault: whose gradient was non-finite ('backward'), or that was already non-finite ('forward'); else null. */
    readonly input: number | null,
    /** Where the op was recorded in the forward pass: the first frames outside mox's core, or '' when unknown. */
    readonly createdAt: string,
  ) {
    super('detectAnomaly', message);
  }
}

/**
 * A training step whose loss or gradients hold NaN or infinite values (fit's `nonFinite: 'raise'`).
 * `parameter` is the first parameter, by its namedParameters() name, whose gradient is non-finite.
 */
export class NonFiniteError extends MoxError {
  /** The step counted from 0 (over the whole fit, or the trainer's iteration). */
  readonly step: number;
  /** The step's loss (NaN or infinite when the loss itself is at fault). */
  readonly loss: number;
  /** The first parameter whose gradient is non-finite, or null when none is (or none was checked). */
  readonly parameter: string | null;
  /** For fit: the epoch (from 0) and the batch within it. */
  readonly epoch: number | undefined;
  /** The batch within the epoch (from 0), for fit. */
  readonly batch: number | undefined;
  /** A non-finite loss or gradient at the step `at` describes. */
  constructor(op: string, message: string, at: { step: number; loss: number; parameter?: string | null; epoch?: number; batch?: number }) {
    super(op, message);
    this.step = at.step;
    this.loss = at.loss;
    this.parameter = at.parameter ?? null;
    this.epoch = at.epoch;
    this.batch = at.batch;
  }
}

/** A malformed or unsupported safetensors file. */
export class SafetensorsError extends MoxError {}

/** A data file that is missing, truncated or malformed, or a dataset that cannot be found or downloaded. */
export class DataError extends MoxError {}

/**
 * A named dataset whose files are in none of the folders searched and could not be downloaded. The
 * fields let a program that knows more (an example and its --data-dir flag) say how to fix it.
 */
export class DatasetNotFoundError extends DataError {
  /** Files of a named dataset that were not found (see the fields). */
  constructor(
    op: string,
    message: string,
    /** The files missing, as the message names them. */
    readonly missing: readonly string[],
    /** Where they were looked for, in order (a label with the folder, e.g. `MOX_DATA_DIR (/data/mnist)`). */
    readonly searched: readonly string[],
    /** Why they were not downloaded, e.g. `downloading is off`. */
    readonly reason: string,
  ) {
    super(op, message);
  }
}

/**
 * A device that cannot be reached or cannot do what was asked: no WebGPU adapter, a synchronous read of
 * GPU memory, a dtype the GPU does not store (float64), a kernel a device lacks.
 */
export class DeviceError extends MoxError {}

/**
 * A worker process of data-parallel training that failed: it exited or was killed (`reason` 'exit'),
 * raised an error in its step ('error', the worker's message follows), did not answer within the
 * timeout ('timeout'), or computed with weights other than rank 0's ('drift'). The other workers are stopped before it is thrown, so nothing hangs.
 */
export class DistributedError extends MoxError {
  /** A failure of worker `rank` (see the fields). */
  constructor(
    op: string,
    message: string,
    /** The rank of the worker at fault (1 to workers - 1; rank 0 is the calling process). */
    readonly rank: number,
    /** What happened: the process ended, its step raised, it did not answer in time, or its replica drifted. */
    readonly reason: 'exit' | 'error' | 'timeout' | 'drift',
  ) {
    super(op, message);
  }
}

/**
 * A federated client that failed in a round: its call timed out, its process died or could not be
 * reached, or it answered with an error. The message names the client and the round.
 */
export class ClientFailureError extends MoxError {
  /** The client's id (its index among the clients, or the id it was given). */
  readonly client: string;
  /** The round (from 1), or 0 outside a round. */
  readonly round: number;
  /** A failure of client `at.client` in round `at.round`. */
  constructor(op: string, message: string, at: { client: string; round: number }) {
    super(op, message);
    this.client = at.client;
    this.round = at.round;
  }
}

/** Formats a shape the way messages show it: [32,784]. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/**
 * A value read from a file as an error message shows it: JSON, cut to 80 characters. A hostile file can
 * nest arrays thousands deep, which overflows the stack in JSON.stringify; then only its kind is shown.
 */
export function showValue(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = v === null ? 'null' : Array.isArray(v) ? '(an array)' : `(${typeof v})`;
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
