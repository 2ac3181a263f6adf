// MOX_TRACE_KERNELS=1: prints, for every call of a CPU backend method, which tier ran it: the WASM
// kernels on the calling thread, the WASM kernels split over N threads, or the TypeScript reference
// kernels. Off (the default) it costs one boolean check per kernel dispatch: the backend is not
// wrapped at all and the thread pool skips its note.

/** Read once, at load: the switch is for a whole run, and a constant keeps the check cheap. */
export const TRACE_KERNELS =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.MOX_TRACE_KERNELS === '1';

/** Where trace lines go (tests replace it to read them). */
export const traceSink: { write: (line: string) => void } = {
  write: (line) => console.error(line),
};

/** The WASM runs of the backend method in progress, in order. */
const runs: string[] = [];
let depth = 0;

/**
 * Called by the thread pool for each kernel run (only when TRACE_KERNELS is set); `tier` is `wasm`,
 * or `native-<level>` when the native module's kernel of that name ran.
 */
export function noteWasmRun(kernel: string, threads: number, tier = 'wasm'): void {
  runs.push(threads > 1 ? `${tier} ${kernel} split over ${threads} threads` : `${tier} ${kernel} on the calling thread`);
}

/** Methods that move data between the host and the heap rather than run a kernel. */
const HOST_COPIES = new Set(['fromArray', 'read', 'readAsync']);

/** Bookkeeping and memory methods, which run no kernel: left out of the trace. */
const UNTRACED = new Set(['alloc', 'free', 'byteLength', 'info', 'setThreads', 'constructor']);

/**
 * `fn` itself when tracing is off; else `fn` printing one line, `label: tier`, per outermost traced
 * call (a traced function that calls another prints once, with every run of both).
 */
export function traceCall<F extends (...args: never[]) => unknown>(label: string, fn: F, hostCopy = false): F {
  if (!TRACE_KERNELS) return fn;
  return function (this: unknown, ...args: Parameters<F>): ReturnType<F> {
    const start = runs.length;
    depth++;
    try {
      return fn.apply(this, args) as ReturnType<F>;
    } finally {
      depth--;
      if (depth === 0) {
        const mine = runs.splice(start);
        const tier = mine.length ? mine.join(', ') : hostCopy ? 'host copy' : 'typescript reference';
        traceSink.write(`mox kernels: ${label}: ${tier}`);
      }
    }
  } as F;
}

/**
 * The backend itself when tracing is off; else a proxy whose methods are traced by traceCall (the
 * memory and bookkeeping methods are left out).
 */
export function traceKernels<T extends object>(backend: T, name: string): T {
  if (!TRACE_KERNELS) return backend;
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(backend, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof value !== 'function' || typeof key !== 'string' || UNTRACED.has(key)) return value;
      let w = wrapped.get(key);
      if (!w) {
        w = traceCall(`${name}.${key}`, value as (...args: unknown[]) => unknown, HOST_COPIES.has(key));
        wrapped.set(key, w);
      }
      return w;
    },
  });
}
