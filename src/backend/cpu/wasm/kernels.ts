// The typed binding of the WebAssembly kernels: every function assembly/index.ts exports, with its
// parameters as AssemblyScript declares them. tsc checks each call (a kernel name from the union of
// the real exports, the right number of arguments); scripts/check-wasm-binding.mjs, run by
// `npm run build`, fails the build when this file and assembly/ disagree. Change both together.

/** AssemblyScript's types as the host passes them: every one is a JavaScript number. */
export type i32 = number;
export type u32 = number;
/** A byte address in the shared heap (wasm32: a u32). */
export type usize = number;
export type f32 = number;
export type f64 = number;

/** The functions the kernel module exports (assembly/index.ts). */
export interface KernelExports {
  // assembly/matmul.ts
  sgemm(
    M: i32,
    N: i32,
    K: i32,
    a: usize,
    rsA: i32,
    csA: i32,
    b: usize,
    rsB: i32,
    csB: i32,
    c: usize,
    ldc: i32,
    bias: usize,
    flags: i32,
    scratch: usize,
  ): void;
  sgemmBatched(
    nb: i32,
    sA: i32,
    sB: i32,
    sC: i32,
    M: i32,
    N: i32,
    K: i32,
    a: usize,
    rsA: i32,
    csA: i32,
    b: usize,
    rsB: i32,
    csB: i32,
    c: usize,
    ldc: i32,
    bias: usize,
    flags: i32,
    scratch: usize,
  ): void;
  // assembly/elementwise.ts
  unaryF32(op: i32, rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, p0: f32, p1: f32): void;
  binaryF32(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void;
  compareF32(op: i32, rows: i32, n: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void;
  whereF32(rows: i32, n: i32, c: usize, rsC: i32, csC: i32, a: usize, rsA: i32, csA: i32, b: usize, rsB: i32, csB: i32, o: usize): void;
  copy32(rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, rsO: i32, csO: i32): void;
  copy32x3(outer: i32, osX: i32, osO: i32, rows: i32, n: i32, x: usize, rsX: i32, csX: i32, o: usize, rsO: i32, csO: i32): void;
  zeroBytes(p: usize, bytes: usize): void;
  // assembly/reduce.ts
  reduceRowsF32(op: i32, rows: i32, n: i32, x: usize, rs: i32, cs: i32, o: usize): void;
  reduceColsF32(op: i32, rows: i32, n: i32, x: usize, rs: i32, cs: i32, o: usize): void;
  // assembly/optim.ts
  adamStepF32(
    p: usize,
    g: usize,
    m: usize,
    v: usize,
    vmax: usize,
    n: i32,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weightDecay: f64,
    decay: f64,
    stepSize: f64,
    bc2Sqrt: f64,
    flags: i32,
  ): void;
  // assembly/window.ts
  im2colF32(
    x: usize,
    sN: i32,
    sC: i32,
    sH: i32,
    sW: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    outH: i32,
    outW: i32,
    pad: f32,
    rowStride: i32,
    imageStride: i32,
    out: usize,
  ): void;
  col2imF32(
    cols: usize,
    sN: i32,
    sR: i32,
    sP: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    outH: i32,
    outW: i32,
    out: usize,
  ): void;
  maxPool2dF32(
    x: usize,
    sN: i32,
    sC: i32,
    sH: i32,
    sW: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    outH: i32,
    outW: i32,
    out: usize,
    argmax: usize,
  ): void;
  maxPool2dBackwardF32(
    g: usize,
    gN: i32,
    gC: i32,
    gH: i32,
    gW: i32,
    idx: usize,
    iN: i32,
    iC: i32,
    iH: i32,
    iW: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    outH: i32,
    outW: i32,
    out: usize,
  ): void;
  avgPool2dF32(
    x: usize,
    sN: i32,
    sC: i32,
    sH: i32,
    sW: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    outH: i32,
    outW: i32,
    flags: i32,
    divisor: f32,
    out: usize,
  ): void;
  avgPool2dBackwardF32(
    g: usize,
    gN: i32,
    gC: i32,
    gH: i32,
    gW: i32,
    C: i32,
    H: i32,
    W: i32,
    q0: i32,
    q1: i32,
    kh: i32,
    kw: i32,
    sh: i32,
    sw: i32,
    ph: i32,
    pw: i32,
    dh: i32,
    dw: i32,
    outH: i32,
    outW: i32,
    flags: i32,
    divisor: f32,
    out: usize,
  ): void;
  // assembly/indexing.ts
  gatherRowsF32(x: usize, rowStride: i32, idx: usize, idxStride: i32, j0: i32, j1: i32, rowLen: i32, out: usize): void;
  scatterAddRowsF32(src: usize, srcRowStride: i32, idx: usize, idxStride: i32, nIdx: i32, rowLen: i32, c0: i32, c1: i32, out: usize): void;
  // assembly/vmath.ts
  vexp(src: usize, dst: usize, n: i32): void;
  // assembly/rows.ts
  softmaxRows(x: usize, rs: i32, out: usize, rows: i32, n: i32, log: i32): void;
  layerNormRows(x: usize, rs: i32, w: usize, b: usize, y: usize, mean: usize, rstd: usize, rows: i32, n: i32, eps: f64, flags: i32): void;
  layerNormBackwardRows(
    g: usize,
    gs: i32,
    x: usize,
    rs: i32,
    mean: usize,
    rstd: usize,
    w: usize,
    dx: usize,
    rows: i32,
    n: i32,
    flags: i32,
  ): void;
  layerNormParams(
    g: usize,
    gs: i32,
    x: usize,
    rs: i32,
    mean: usize,
    rstd: usize,
    dw: usize,
    db: usize,
    rows: i32,
    j0: i32,
    j1: i32,
    flags: i32,
  ): void;
  crossEntropyRows(x: usize, rs: i32, tgt: usize, loss: usize, lse: usize, rows: i32, n: i32, ignore: i32, eps: f64): void;
  crossEntropyBackwardRows(
    x: usize,
    rs: i32,
    tgt: usize,
    lse: usize,
    gout: usize,
    gstride: i32,
    dx: usize,
    rows: i32,
    n: i32,
    ignore: i32,
    eps: f64,
  ): void;
  // assembly/attention.ts
  attentionF32(
    nb: i32,
    strides: usize,
    entries: usize,
    lq: i32,
    lk: i32,
    e: i32,
    ev: i32,
    out: usize,
    lse: usize,
    b0: i32,
    causal: i32,
    scale: f32,
    dropP: f32,
    seed: u32,
    threshold: u32,
    s: usize,
    scratch: usize,
  ): void;
  attentionBackwardF32(
    nb: i32,
    strides: usize,
    entries: usize,
    lq: i32,
    lk: i32,
    e: i32,
    ev: i32,
    out: usize,
    lse: usize,
    dq: usize,
    dk: usize,
    dv: usize,
    b0: i32,
    causal: i32,
    scale: f32,
    dropP: f32,
    seed: u32,
    threshold: u32,
    s: usize,
    ds: usize,
    scratch: usize,
  ): void;
  // assembly/quant.ts
  q8MatmulF32(M: i32, N: i32, K: i32, x: usize, ldx: i32, w: usize, ldw: i32, scale: usize, bias: usize, out: usize, ldo: i32): void;
  quantizeRowsU7(M: i32, K: i32, Kp: i32, x: usize, ldx: i32, q: usize, params: usize): void;
  q8DynMatmul(
    M: i32,
    N: i32,
    Kp: i32,
    q: usize,
    params: usize,
    w: usize,
    scale: usize,
    rowSum: usize,
    bias: usize,
    out: usize,
    ldo: i32,
  ): void;
  quantizeRowsQ8(M: i32, K: i32, Kp: i32, x: usize, ldx: i32, q: usize, d: usize, sums: usize): void;
  q4MatmulQ8(M: i32, N: i32, Kp: i32, q: usize, d: usize, sums: usize, w: usize, wd: usize, bias: usize, out: usize, ldo: i32): void;
}

/** The constants the kernel module exports, as WebAssembly globals. */
export interface KernelConstants {
  /** Floats of packing space sgemm needs per thread (assembly/matmul.ts). */
  SCRATCH_FLOATS: WebAssembly.Global;
}

export type KernelName = keyof KernelExports;

/**
 * One call's arguments, as a tuple labelled with the kernel's parameter names: a job for the thread
 * pool. A plain array, so building one costs what the untyped list it replaces did.
 */
export type KernelArgs<K extends KernelName> = Parameters<KernelExports[K]>;

/** The exports of an instance of the kernel module, typed by the binding. */
export function kernelExports(instance: WebAssembly.Instance): KernelExports & KernelConstants {
  return instance.exports as unknown as KernelExports & KernelConstants;
}
