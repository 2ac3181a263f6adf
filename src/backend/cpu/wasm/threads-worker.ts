// A kernel thread: instantiates the kernel module on the shared memory and runs whatever the main
// thread posts in its control slot, forever (the pool unref()s it, so it never holds the process).
// Where the main thread runs native kernels, this thread opens the same module (its level and heap
// are process-wide, set by the main thread) and uses its kernels in place of their WebAssembly twins.

import { workerData } from 'node:worker_threads';
import { openNative } from '../native/loader.js';
import { MAX_ARGS, SLOT_BYTES, SLOT_HEAD_INTS, spinWhile } from './threads.js';

const { module, memory, ctrl, index, names, nativePath } = workerData as {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  index: number;
  names: string[];
  nativePath: string | null;
};
const instance = new WebAssembly.Instance(module, {
  env: {
    memory,
    abort: () => {
      throw new Error('abort');
    },
  },
});
const native = nativePath ? openNative(nativePath) : null;
const fns = names.map((n) => (native?.[n] ?? instance.exports[n]) as (...a: number[]) => void);
const base = 16 + index * SLOT_BYTES;
const head = new Int32Array(ctrl, base, SLOT_HEAD_INTS);
const args = new Float64Array(ctrl, base + SLOT_HEAD_INTS * 4, MAX_ARGS);
const done = new Int32Array(ctrl, 0, 4);

// tell the pool this thread is up (it waits for this before handing it work)
Atomics.store(head, 4, 1);
Atomics.notify(head, 4);

let seen = 0;
for (;;) {
  // done[1]: whether the pool polls (set by ThreadPool.resize)
  if (Atomics.load(done, 1) === 1) spinWhile(() => Atomics.load(head, 0) === seen);
  Atomics.wait(head, 0, seen);
  seen = Atomics.load(head, 0);
  const n = head[2]!;
  try {
    const a: number[] = [];
    for (let i = 0; i < n; i++) a.push(args[i]!);
    fns[head[1]!]!(...a);
  } catch {
    head[3] = 1;
  }
  Atomics.add(done, 0, 1);
  Atomics.notify(done, 0);
}
