// The two wires between rank 0 and a worker: Node's IPC channel for the messages, and a plain socket
// (a fifth stdio pipe) for the bytes of their typed arrays. Node's IPC re-concatenates a large message
// chunk by chunk as it arrives: a 3.2 MB Float32Array (a 0.8M-parameter GPT's gradients) cost 35 ms of
// CPU per round trip there, against 2 ms for a copy of it, so each typed array of a message is taken
// out, written raw to the socket, and put back at the other end from bytes read into one buffer.
// Both wires are FIFOs written in the same order, so the n-th array of the n-th message is the n-th
// run of bytes on the socket.

import type { Readable, Writable } from 'node:stream';
import type { TypedArray } from '../base/dtype.js';

const KINDS = { Float32Array, Float64Array, Int32Array, Uint8Array } as const;
type Kind = keyof typeof KINDS;

/** Where a typed array was in a message: its kind and length in bytes; the bytes follow on the socket. */
interface BlobRef {
  $blob: Kind;
  bytes: number;
}

const isBlobRef = (v: unknown): v is BlobRef => typeof v === 'object' && v !== null && typeof (v as BlobRef).$blob === 'string';

/** A copy of `v` with each typed array replaced by a BlobRef, the arrays pushed to `out` in walk order. */
function strip(v: unknown, out: TypedArray[]): unknown {
  if (ArrayBuffer.isView(v)) {
    const kind = v.constructor.name as Kind;
    if (!(kind in KINDS)) throw new TypeError(`channel: cannot send a ${kind}`);
    out.push(v as TypedArray);
    return { $blob: kind, bytes: v.byteLength } satisfies BlobRef;
  }
  if (Array.isArray(v)) return v.map((x) => strip(x, out));
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x, out)]));
  return v;
}

/** Sends `msg` over the two wires: its typed arrays' bytes on `data`, the rest through `send`. */
export function sendSplit(msg: object, send: (m: unknown) => void, data: Writable): void {
  const arrays: TypedArray[] = [];
  const head = strip(msg, arrays);
  for (const a of arrays) if (a.byteLength > 0) data.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  send(head);
}

/** The reading end of the data socket: runs of exactly n bytes, in order, as they arrive. */
export class BlobReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private waiting: { n: number; resolve: (b: ArrayBuffer) => void } | null = null;
  /** Messages are put back one at a time, in the order they came. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(data: Readable) {
    data.on('data', (c: Uint8Array) => {
      this.chunks.push(c);
      this.buffered += c.byteLength;
      this.serve();
    });
  }

  private serve(): void {
    const w = this.waiting;
    if (!w || this.buffered < w.n) return;
    this.waiting = null;
    w.resolve(this.take(w.n));
  }

  /** The next n bytes, copied into a fresh (aligned) buffer. */
  private take(n: number): ArrayBuffer {
    const buf = new ArrayBuffer(n);
    const out = new Uint8Array(buf);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.byteLength, n - at);
      out.set(k === c.byteLength ? c : c.subarray(0, k), at);
      at += k;
      if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return buf;
  }

  private read(n: number): Promise<ArrayBuffer> {
    if (n === 0) return Promise.resolve(new ArrayBuffer(0));
    return new Promise((resolve) => {
      this.waiting = { n, resolve };
      this.serve();
    });
  }

  private async restore(v: unknown): Promise<unknown> {
    if (isBlobRef(v)) {
      const C = KINDS[v.$blob];
      return new C(await this.read(v.bytes));
    }
    if (Array.isArray(v)) {
      const out = [];
      for (const x of v) out.push(await this.restore(x));
      return out;
    }
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = await this.restore(x);
      return out;
    }
    return v;
  }

  /** The message `head` came as, with its typed arrays read back from the socket (in arrival order). */
  receive<T>(head: unknown): Promise<T> {
    const next = this.queue.then(() => this.restore(head));
    this.queue = next.catch(() => {});
    return next as Promise<T>;
  }
}
