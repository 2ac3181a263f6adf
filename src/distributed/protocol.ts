// The messages rank 0 and its worker processes exchange: the IPC channel of child_process.fork carries
// them (with Node's 'advanced' serialization, so a NaN loss stays NaN), their typed arrays travel raw
// on a socket beside it (channel.ts). Every request carries an id its answer echoes.

import '../ops/tensor-methods.js';
import type { DType, TypedArray } from '../base/dtype.js';
import type { Tensor } from '../tensor/tensor.js';
import { tensor } from '../tensor/create.js';

/** A tensor as it travels between processes: its elements in row-major order, shape and dtype. */
export interface WireTensor {
  data: TypedArray;
  shape: number[];
  dtype: DType;
}

/** How a worker builds its replica: `module`'s export `export` called with `args` (as mp.spawn takes a function). */
export interface ReplicaFactory {
  /** The module's URL (file:...), as import() takes it. */
  module: string;
  /** The export to call (default 'default'); it returns a Module or a Promise of one. */
  export: string;
  /** Arguments for it, structured-cloneable (a GPT's config, ...). */
  args: unknown[];
}

/**
 * Where a replica's loss comes from: 'compiled', the loss compile() gave the factory's model, of
 * forward(...inputs) against the target (fit); 'model', the model's own, forward(...inputs, target).loss
 * (a GPT or any Hugging Face style model that takes its labels).
 */
export type LossMode = 'compiled' | 'model';

/** The parameters and buffers of a replica, as rank 0 broadcasts them. */
export interface WireWeights {
  /** Which broadcast this is: the worker echoes it with each gradient, so a stale replica is caught. */
  version: number;
  /** Every parameter, float32, concatenated in namedParameters() order. */
  params: Float32Array;
  /** Every buffer (running statistics, ...), in namedBuffers() order. */
  buffers: TypedArray[];
}

/** The first message: who the worker is and what it builds. */
export interface InitRequest {
  type: 'init';
  id: number;
  rank: number;
  world: number;
  threads: number;
  seed: number;
  factory: ReplicaFactory;
  loss: LossMode;
  /** Rank 0's parameters (name, shape, whether it trains) and buffers, which the replica must match. */
  params: { name: string; shape: number[]; trains: boolean }[];
  buffers: { name: string; shape: number[] }[];
}

/** One shard of one step: forward and backward of `scale` times the shard's mean loss. */
export interface StepRequest {
  type: 'step';
  id: number;
  /** New weights, when the worker's are older than rank 0's. */
  weights: WireWeights | null;
  inputs: WireTensor[];
  target: WireTensor;
  scale: number;
  /** Send the model's output back (for the metrics, which rank 0 computes on the whole batch). */
  wantOutput: boolean;
}

/** Asks for the replica's weights as they are (to check that no replica drifted). */
export interface StateRequest {
  type: 'state';
  id: number;
}

/** What rank 0 sends. */
export type Request = InitRequest | StepRequest | StateRequest;

/** A worker's answer to a step: the gradients of the trainable parameters, summed later by rank 0. */
export interface GradReply {
  type: 'grads';
  id: number;
  /** The weights' version the gradients were computed with, and the sum of those weights as read back. */
  version: number;
  checksum: number;
  /** The trainable parameters' gradients concatenated (zeros where `present` is false). */
  grads: Float32Array;
  present: boolean[];
  /** The shard's mean loss, unscaled. */
  loss: number;
  output: WireTensor | null;
}

/** What a worker answers. */
export type Reply =
  | { type: 'ready'; id: number }
  | GradReply
  | { type: 'state'; id: number; params: Float32Array; buffers: TypedArray[]; version: number }
  | { type: 'error'; id: number; name: string; message: string };

/** A tensor's elements, shape and dtype for the channel (a copy; views are read in logical order). */
export function toWire(t: Tensor): WireTensor {
  return { data: t.dataSync(), shape: [...t.shape], dtype: t.dtype };
}

/** A tensor made from what came over the channel. */
export function fromWire(w: WireTensor): Tensor {
  return tensor(w.data, { shape: w.shape, dtype: w.dtype });
}

/** A fingerprint of float32 values (FNV-1a over their bits): equal on two processes when they hold the same bits. */
export function checksum(a: Float32Array): number {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i]!, 16777619);
  return h >>> 0;
}
