// The machinery under every WebGPU kernel: a pipeline cache, a buffer pool, and one command encoder that
// collects many dispatches before a submit.
//
// Ordering rules this file keeps (the queue runs writeBuffer and submits in the order they are called):
// - Kernel parameters go into one uniform buffer, a 256-byte slot per dispatch, written by writeBuffer
//   just before the submit that uses them; the next batch's write is queued after that submit, so one
//   uniform buffer serves every batch.
// - Host data (fromArray) goes through a staging buffer mapped at creation and a copy command recorded
//   in the encoder, in order with the kernels, never through writeBuffer, which the queue would run
//   before commands recorded earlier. So a freed buffer can go back to the pool at once: the commands
//   that use it next are recorded after the ones that used it before. The pool then hands out the same
//   buffers to the same sequence of allocations (LIFO per size class), step after step, and the bind
//   groups of a training step are found in the cache instead of being created again.

import { DeviceError } from '../../errors.js';

const USAGE_STORAGE = 0x80;
const USAGE_COPY_SRC = 0x04;
const USAGE_COPY_DST = 0x08;
const USAGE_MAP_READ = 0x01;
const USAGE_MAP_WRITE = 0x02;
const USAGE_UNIFORM = 0x40;
const MAP_READ = 0x01;

/** Bytes of one dispatch's parameters: 64 32-bit words. */
export const PARAM_SLOT_BYTES = 256;
const PARAM_SLOTS = 1024;
/** Size of a staging buffer for host data (a larger upload gets one of its own size). */
const STAGING_BYTES = 1 << 20;
/** Dispatches per submit: enough to amortise the submit, few enough that the GPU starts early. */
const DISPATCHES_PER_SUBMIT = 256;

// One word seen as f32, i32 and u32, to store a parameter's bits without allocating views per Params.
const bits = new ArrayBuffer(4);
const bitsF32 = new Float32Array(bits);
const bitsI32 = new Int32Array(bits);
const bitsU32 = new Uint32Array(bits);

/** Up to 64 32-bit kernel parameters, written as u32, i32 or f32 (WGSL reads them with pu/pi/pf). */
export class Params {
  readonly words = new Uint32Array(PARAM_SLOT_BYTES / 4);
  private n = 0;
  u(...vs: number[]): this {
    for (const v of vs) this.words[this.n++] = v >>> 0;
    return this;
  }
  i(...vs: number[]): this {
    for (const v of vs) {
      bitsI32[0] = v;
      this.words[this.n++] = bitsU32[0]!;
    }
    return this;
  }
  f(...vs: number[]): this {
    for (const v of vs) {
      bitsF32[0] = v;
      this.words[this.n++] = bitsU32[0]!;
    }
    return this;
  }
  /** Index of the next word. */
  get length(): number {
    return this.n;
  }
}

/** The WGSL every kernel starts with: its parameters and the readers for them. */
export const PRELUDE = /* wgsl */ `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 16>;
fn pu(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(P[i / 4u][i % 4u]); }
fn pf(i: u32) -> f32 { return bitcast<f32>(P[i / 4u][i % 4u]); }
`;

/** Rounds a request up to a pool size class: powers of two up to 1 MiB, then whole MiB. */
function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 256);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  return Math.ceil(b / (1 << 20)) * (1 << 20);
}

/**
 * What dispatch() runs: WGSL source, or a cache key with a function that writes the source (called only
 * the first time the key is seen), which spares a hot kernel from building and hashing its text.
 */
export type Kernel = string | { readonly key: string; code(): string };

/** A compiled kernel: its pipeline, and the bind group layout of its storage bindings ('r'/'w' each). */
interface Compiled {
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly signature: string;
  readonly code: string;
}

/**
 * MOX_WEBGPU_CHECK_KEYS=1 (the tests set it) regenerates a keyed kernel's WGSL on every cache hit and
 * fails if it differs from what the key was first compiled from.
 */
const CHECK_KEYS = typeof process !== 'undefined' && process.env['MOX_WEBGPU_CHECK_KEYS'] === '1';

const STAGE_COMPUTE = 0x4;
/** Bind groups kept for reuse; past this many the cache starts over. */
const MAX_BIND_GROUPS = 20000;

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  /** Bytes the buffer really has (its size class). */
  readonly capacity: number;
}

export class Engine {
  private readonly pipelines = new Map<string, Compiled>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly bindGroups = new Map<string, GPUBindGroup>();
  private readonly bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private readonly pool = new Map<number, GPUBuffer[]>();
  /** The staging buffer host data is being written into, and those filled in this batch (unmapped at submit). */
  private staging: { buffer: GPUBuffer; bytes: Uint8Array; used: number } | null = null;
  private stagedThisBatch: GPUBuffer[] = [];
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly paramBuffer: GPUBuffer;
  private readonly paramData = new Uint32Array((PARAM_SLOTS * PARAM_SLOT_BYTES) / 4);
  private slot = 0;
  private error: string | null = null;
  private lost: string | null = null;
  /** Bytes held by live buffers and by the pool; pipelines compiled, submits and dispatches so far. */
  readonly stats = { live: 0, pooled: 0, pipelines: 0, submits: 0, dispatches: 0, bindGroups: 0 };

  constructor(readonly device: GPUDevice) {
    this.paramBuffer = device.createBuffer({ size: PARAM_SLOTS * PARAM_SLOT_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST });
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      this.error ??= (ev as GPUUncapturedErrorEvent).error.message;
    });
    // a lost device (driver reset, GPU removed, destroy()) fails every later call with its reason
    void device.lost?.then((info) => {
      this.lost = `the GPU device was lost (${info.reason ?? 'unknown'}): ${info.message}`;
    });
  }

  // ---- memory ----

  /** A storage buffer of at least `bytes` bytes (contents undefined). */
  acquire(bytes: number): PooledBuffer {
    const capacity = sizeClass(bytes);
    const reused = this.takeFree(capacity);
    if (reused) {
      this.stats.pooled -= capacity;
      this.stats.live += capacity;
      return { buffer: reused, capacity };
    }
    if (capacity > this.device.limits.maxStorageBufferBindingSize) {
      throw new DeviceError(
        'webgpu',
        `a buffer of ${bytes} bytes exceeds this device's largest storage binding (${this.device.limits.maxStorageBufferBindingSize} bytes)`,
      );
    }
    const buffer = this.device.createBuffer({ size: capacity, usage: USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST });
    this.stats.live += capacity;
    return { buffer, capacity };
  }

  /**
   * The free buffer of a size class with the lowest id. Which buffer an allocation gets then depends only
   * on the set of free buffers, not on the order they were freed in, so a training step, which frees
   * what it allocated, gets the same buffers every time, and its bind groups come from the cache.
   */
  private takeFree(capacity: number): GPUBuffer | undefined {
    const free = this.pool.get(capacity);
    if (!free || free.length === 0) return undefined;
    let best = 0;
    for (let i = 1; i < free.length; i++) if (this.idOf(free[i]!) < this.idOf(free[best]!)) best = i;
    const b = free[best]!;
    free[best] = free[free.length - 1]!;
    free.pop();
    return b;
  }

  /** Returns a buffer to the pool (commands recorded later may reuse it: see the ordering rules above). */
  release(b: PooledBuffer): void {
    this.stats.live -= b.capacity;
    this.stats.pooled += b.capacity;
    let list = this.pool.get(b.capacity);
    if (!list) this.pool.set(b.capacity, (list = []));
    list.push(b.buffer);
  }

  /** Frees the pool's idle buffers (PyTorch's torch.cuda.empty_cache). */
  emptyCache(): void {
    this.flush();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    for (const [cap, list] of this.pool) this.stats.pooled -= cap * list.length;
    this.pool.clear();
    this.bindGroups.clear(); // they may name destroyed buffers
  }

  /**
   * Copies host data (a multiple of 4 bytes) into a buffer: into a staging buffer now, to the buffer by
   * a copy command recorded after everything recorded so far.
   */
  upload(b: PooledBuffer, data: ArrayBufferView, byteOffset = 0): void {
    const n = data.byteLength;
    if (n === 0) return;
    let st = this.staging;
    if (!st || st.used + n > st.bytes.byteLength) {
      const size = Math.max(STAGING_BYTES, Math.ceil(n / 4) * 4);
      const buffer = this.device.createBuffer({ size, usage: USAGE_MAP_WRITE | USAGE_COPY_SRC, mappedAtCreation: true });
      st = this.staging = { buffer, bytes: new Uint8Array(buffer.getMappedRange()), used: 0 };
      this.stagedThisBatch.push(buffer);
    }
    st.bytes.set(new Uint8Array(data.buffer, data.byteOffset, n), st.used);
    this.copy(st.buffer, st.used, b.buffer, byteOffset, n);
    st.used += n;
  }

  // ---- commands ----

  /** The compiled kernel, from the cache or made now (WGSL compiled, bind group layout from its bindings). */
  compile(kernel: Kernel): Compiled {
    const key = typeof kernel === 'string' ? kernel : kernel.key;
    let c = this.pipelines.get(key);
    if (c) {
      if (CHECK_KEYS && typeof kernel !== 'string' && kernel.code() !== c.code) {
        throw new DeviceError(
          'webgpu',
          `kernel key '${key}' names two different kernels: its cache key misses something the WGSL depends on`,
        );
      }
      return c;
    }
    const code = typeof kernel === 'string' ? kernel : kernel.code();
    const signature = storageSignature(code);
    const layout = this.layoutFor(signature);
    const module = this.device.createShaderModule({ code });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: 'main' },
    });
    c = { pipeline, layout, signature, code };
    this.pipelines.set(key, c);
    this.stats.pipelines++;
    return c;
  }

  /**
   * One layout per storage signature: binding 0 the parameter slot (a dynamic offset into the one
   * uniform buffer, so bind groups do not depend on the slot and can be reused), then the storage
   * buffers, read-only ('r') or writable ('w').
   */
  private layoutFor(signature: string): GPUBindGroupLayout {
    let l = this.layouts.get(signature);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: STAGE_COMPUTE, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: PARAM_SLOT_BYTES } },
      ];
      [...signature].forEach((a, i) =>
        entries.push({ binding: i + 1, visibility: STAGE_COMPUTE, buffer: { type: a === 'r' ? 'read-only-storage' : 'storage' } }),
      );
      l = this.device.createBindGroupLayout({ entries });
      this.layouts.set(signature, l);
    }
    return l;
  }

  private idOf(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }

  /** The bind group of these buffers under a layout, reused: creating one costs tens of microseconds. */
  private bindGroup(c: Compiled, buffers: readonly GPUBuffer[]): GPUBindGroup {
    let key = c.signature;
    for (const b of buffers) key += `,${this.idOf(b)}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      if (buffers.length !== c.signature.length) {
        throw new DeviceError('webgpu', `a kernel declares ${c.signature.length} storage bindings but was given ${buffers.length} buffers`);
      }
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.paramBuffer, offset: 0, size: PARAM_SLOT_BYTES } }];
      buffers.forEach((buffer, i) => entries.push({ binding: i + 1, resource: { buffer } }));
      g = this.device.createBindGroup({ layout: c.layout, entries });
      this.stats.bindGroups++;
      this.bindGroups.set(key, g);
    }
    return g;
  }

  private openEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private closePass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /**
   * Records one dispatch of `code` (PRELUDE + bindings 1.. in `buffers` order) with its parameters over
   * `groups` workgroups: a count is split over x and y when it exceeds the 65535-per-dimension limit
   * (kernels find their index with `linearIndex`).
   */
  dispatch(kernel: Kernel, buffers: readonly GPUBuffer[], params: Params, groups: number | readonly [number, number, number]): void {
    const [gx, gy, gz] = typeof groups === 'number' ? split(groups) : groups;
    if (gx === 0 || gy === 0 || gz === 0) return;
    if (this.slot === PARAM_SLOTS) this.flush();
    const c = this.compile(kernel);
    const bindGroup = this.bindGroup(c, buffers);
    const slot = this.slot++;
    this.paramData.set(params.words, (slot * PARAM_SLOT_BYTES) / 4);
    if (!this.pass) this.pass = this.openEncoder().beginComputePass();
    this.pass.setPipeline(c.pipeline);
    this.pass.setBindGroup(0, bindGroup, [slot * PARAM_SLOT_BYTES]);
    this.pass.dispatchWorkgroups(gx, gy, gz);
    this.stats.dispatches++;
    if (++this.dispatches >= DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Records a buffer-to-buffer copy (byte offsets and size multiples of 4). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.closePass();
    this.openEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Records zeroing `bytes` bytes of a buffer. */
  clear(dst: GPUBuffer, offset: number, bytes: number): void {
    if (bytes === 0) return;
    this.closePass();
    this.openEncoder().clearBuffer(dst, offset, bytes);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.closePass();
    // staging buffers must be unmapped before the commands that copy from them are submitted
    for (const b of this.stagedThisBatch) b.unmap();
    if (this.slot > 0) {
      this.device.queue.writeBuffer(this.paramBuffer, 0, this.paramData.buffer, 0, this.slot * PARAM_SLOT_BYTES);
      this.slot = 0;
    }
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.stats.submits++;
    }
    this.dispatches = 0;
    // destroyed once the submitted copies have run (WebGPU defers it)
    for (const b of this.stagedThisBatch) b.destroy();
    this.stagedThisBatch = [];
    this.staging = null;
    this.throwIfFailed();
  }

  /** Resolves when every command submitted so far has run on the GPU. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  /** Copies `bytes` bytes from `src` at `offset` back to the host. */
  async read(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    if (bytes === 0) return new ArrayBuffer(0);
    const staging = this.device.createBuffer({ size: bytes, usage: USAGE_MAP_READ | USAGE_COPY_DST });
    this.copy(src, offset, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(MAP_READ);
      return staging.getMappedRange().slice(0);
    } finally {
      staging.unmap();
      staging.destroy();
      this.throwIfFailed();
    }
  }

  private throwIfFailed(): void {
    if (this.lost) throw new DeviceError('webgpu', this.lost);
    if (this.error) {
      const msg = this.error;
      this.error = null;
      throw new DeviceError('webgpu', `the GPU reported an error: ${msg}`);
    }
  }
}

/** The storage bindings of a kernel's WGSL, in binding order: 'r' read-only, 'w' read_write. */
function storageSignature(code: string): string {
  const found: string[] = [];
  for (const m of code.matchAll(/@binding\((\d+)\)\s*var<storage,\s*(read_write|read)>/g))
    found[Number(m[1]) - 1] = m[2] === 'read' ? 'r' : 'w';
  for (let i = 0; i < found.length; i++) {
    if (!found[i])
      throw new DeviceError('webgpu', `a kernel's storage bindings must be numbered 1..n without gaps (binding ${i + 1} is missing)`);
  }
  return found.join('');
}

const MAX_GROUPS = 65535;

/** Splits a 1-D workgroup count over x and y. */
export function split(groups: number): [number, number, number] {
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

/** WGSL: the flat index of a thread (or of a workgroup, with wg = 1) under `split`'s 2-D grid. */
export const linearIndex = (wg: number): string => `(gid.x + gid.y * nwg.x * ${wg}u)`;

/** WGSL: the parameters of an entry point that uses `linearIndex`. */
export const ENTRY_ARGS =
  '@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>';
