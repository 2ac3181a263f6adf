// Batched matmul in WGSL: a tiled, register-blocked kernel over strided operands.
//
// One workgroup computes a BM x BN tile of one batch's output (workgroup_id.z picks the batch); each of
// its (BN/TN) x (BM/TM) threads accumulates TM x TN outputs in registers. K is walked in BK-wide
// chunks staged in workgroup memory: the A chunk transposed ([BK][BM], so the inner loop reads a
// thread's rows as vec4s) and the B chunk as [BK][BN]. While the threads multiply one chunk, the next
// one is already being loaded from global memory into registers (register prefetch), which hides the
// load latency behind the arithmetic.
//
// A thread's rows and columns come in groups of four, interleaved across the workgroup (thread x owns
// column groups x, x + BN/TN, ...) rather than contiguous: neighbouring threads then read neighbouring
// vec4s of the B chunk, which is free of bank conflicts, and write neighbouring runs of the output.
// Rows of the chunks are padded by one vec4 so that the transposing stores hit distinct banks too.
//
// Operands are read in place through their strides (a transposed weight costs nothing extra); the
// load order follows each operand's smaller stride so that neighbouring threads read neighbouring
// addresses. Batch axes are merged where the strides allow and the batch index is decomposed with
// their shape and strides. The epilogue adds a bias [N] and applies relu before the single store.

import type { MatmulEpilogue, View } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import { DeviceError, ShapeError, fmtShape } from '../../../errors.js';
import { Params, PRELUDE, type Engine } from '../engine.js';
import { numel } from '../../../base/shape.js';
import { binding, bufOf, convert, stridedIndex, wgslType, type GpuBuffer } from './common.js';
import { allocate } from './elementwise.js';

/** The blocking of one kernel variant: output tile BM x BN, K chunk BK, TM x TN outputs per thread. */
export interface MatmulTile {
  readonly BM: number;
  readonly BN: number;
  readonly BK: number;
  readonly TM: number;
  readonly TN: number;
}

/**
 * The one place the tile choice lives. `tiles` runs from the largest tile to the smallest; a product
 * uses the first that fits the device and still gives `enoughGroups` workgroups (a tile too large for
 * the matrix leaves most of the GPU idle), else the smallest that fits. Mutable on purpose, so a tile
 * can be tried on new hardware without a rebuild; 132 is the H100's SM count.
 */
export const matmulTuning: { tiles: MatmulTile[]; enoughGroups: number } = {
  tiles: [
    { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 }, // 256 threads, 64 accumulators each: large products
    { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 }, // 256 threads
    { BM: 32, BN: 32, BK: 16, TM: 4, TN: 4 }, // 64 threads: small matrices, matrix-vector products
  ],
  enoughGroups: 132,
};

const MAX_GROUPS = 65535;

/** Threads of a workgroup along x (columns) and y (rows). */
const threads = (t: MatmulTile): [number, number] => [t.BN / t.TN, t.BM / t.TM];

/** Bytes of workgroup memory: the A and B chunks, each row padded by one vec4. */
const sharedBytes = (t: MatmulTile): number => t.BK * (t.BM / 4 + 1) * 16 + t.BK * (t.BN / 4 + 1) * 16;

/** Why a tile cannot be generated at all (null when it can): the shapes the generator relies on. */
export function tileProblem(t: MatmulTile): string | null {
  const [wx, wy] = threads(t);
  if (t.TM % 4 !== 0 || t.TN % 4 !== 0) return 'TM and TN must be multiples of 4 (vec4 registers)';
  if (t.BM % t.TM !== 0 || t.BN % t.TN !== 0) return 'BM and BN must be multiples of TM and TN';
  const n = wx * wy;
  if (((t.BM / 4) * t.BK) % n !== 0 || ((t.BN / 4) * t.BK) % n !== 0) return 'each chunk must split evenly over the threads in vec4s';
  return null;
}

/** Whether the device's limits admit the tile. */
function fits(t: MatmulTile, limits: GPUSupportedLimits): boolean {
  const [wx, wy] = threads(t);
  return (
    tileProblem(t) === null &&
    wx * wy <= limits.maxComputeInvocationsPerWorkgroup &&
    wx <= limits.maxComputeWorkgroupSizeX &&
    wy <= limits.maxComputeWorkgroupSizeY &&
    sharedBytes(t) <= limits.maxComputeWorkgroupStorageSize
  );
}

/** The tile for an M x N product repeated over `batches`, per `matmulTuning`. */
export function chooseTile(M: number, N: number, batches: number, limits: GPUSupportedLimits): MatmulTile {
  const usable = matmulTuning.tiles.filter((t) => fits(t, limits));
  const last = usable[usable.length - 1];
  if (!last) {
    const why = matmulTuning.tiles.map((t) => `${JSON.stringify(t)}: ${tileProblem(t) ?? 'over the workgroup size or memory limits'}`);
    throw new DeviceError('matmul', `no tile in matmulTuning.tiles fits this device (${why.join('; ') || 'the table is empty'})`);
  }
  const groups = (t: MatmulTile): number => Math.ceil(M / t.BM) * Math.ceil(N / t.BN) * batches;
  return usable.find((t) => groups(t) >= matmulTuning.enoughGroups) ?? last;
}

/** Everything besides the tile that changes the generated WGSL: the dtypes and the epilogue. */
interface Variant {
  aDtype: DType;
  bDtype: DType;
  outDtype: DType;
  /** The accumulator's dtype: int32 (exact, wrapping like the CPU's int32 store) or float32. */
  acc: 'float32' | 'int32';
  biasDtype: DType | null;
  relu: boolean;
}

// The parameter words, before the batch addressing that stridedIndex appends.
const P_M = 0,
  P_N = 1,
  P_K = 2,
  P_SAM = 3,
  P_SAK = 4,
  P_SBK = 5,
  P_SBN = 6,
  P_BIAS_OFF = 7,
  P_BIAS_STRIDE = 8;
/** Load order: bit 0 set when A is walked along k (row-major A), bit 1 when B is walked along n. */
const P_ORDER = 9;
/** Where this dispatch's first tile column, tile row and batch lie (grids past 65535 take several). */
const P_TILE_X0 = 10,
  P_TILE_Y0 = 11,
  P_BATCH0 = 12;

const COMPS = ['x', 'y', 'z', 'w'];

/** WGSL of the kernel for one tile and variant; `batchCode` declares o0/o1 (A's and B's batch base) from `i`. */
function source(t: MatmulTile, v: Variant, batchCode: string): string {
  const { BM, BN, BK, TM, TN } = t;
  const [WX, WY] = threads(t);
  const T = WX * WY;
  const AS = BM / 4 + 1; // padded row length of the A chunk, in vec4s
  const BS = BN / 4 + 1;
  const ct = wgslType(v.acc);
  const VT = `vec4<${ct}>`;
  const ga = ((BM / 4) * BK) / T; // vec4 groups of A each thread loads per chunk
  const gb = ((BN / 4) * BK) / T;

  // Each thread's vec4 groups of the chunks, fixed for the whole K loop: group g is element e of the
  // chunk, read as (k, 4-row block) in the order the operand's strides favour. Only k0 moves.
  const setup: string[] = [];
  for (let g = 0; g < ga; g++) {
    setup.push(`let aE${g} = ${g * T}u + tid;`);
    setup.push(
      `let aK${g} = select(aE${g} / ${BM / 4}u, aE${g} % ${BK}u, aAlongK); let aQ${g} = select(aE${g} % ${BM / 4}u, aE${g} / ${BK}u, aAlongK);`,
    );
    setup.push(`let aM${g} = row0 + aQ${g} * 4u; let aP${g} = aBase + aM${g} * sam + aK${g} * sak;`);
    setup.push(`var ra${g}: ${VT};`);
  }
  for (let g = 0; g < gb; g++) {
    setup.push(`let bE${g} = ${g * T}u + tid;`);
    setup.push(
      `let bK${g} = select(bE${g} % ${BK}u, bE${g} / ${BN / 4}u, bAlongN); let bQ${g} = select(bE${g} / ${BK}u, bE${g} % ${BN / 4}u, bAlongN);`,
    );
    setup.push(`let bN${g} = col0 + bQ${g} * 4u; let bP${g} = bBase + bK${g} * sbk + bN${g} * sbn;`);
    setup.push(`var rb${g}: ${VT};`);
  }

  // Global memory -> registers for the chunk at k0; elements past M, N or K read as 0 (they add nothing).
  const load: string[] = [];
  for (let g = 0; g < ga; g++) {
    load.push(`ra${g} = ${VT}(); if (k0 + aK${g} < K) { let p = aP${g} + k0 * sak;`);
    COMPS.forEach((c, j) => load.push(`  if (aM${g} + ${j}u < M) { ra${g}.${c} = ${convert(`A[p + ${j}u * sam]`, v.aDtype, v.acc)}; }`));
    load.push('}');
  }
  for (let g = 0; g < gb; g++) {
    load.push(`rb${g} = ${VT}(); if (k0 + bK${g} < K) { let p = bP${g} + k0 * sbk;`);
    COMPS.forEach((c, j) => load.push(`  if (bN${g} + ${j}u < N) { rb${g}.${c} = ${convert(`B[p + ${j}u * sbn]`, v.bDtype, v.acc)}; }`));
    load.push('}');
  }
  // Registers -> workgroup memory, A transposed.
  const store: string[] = [];
  for (let g = 0; g < ga; g++) store.push(`As[aK${g} * ${AS}u + aQ${g}] = ra${g};`);
  for (let g = 0; g < gb; g++) store.push(`Bs[bK${g} * ${BS}u + bQ${g}] = rb${g};`);

  // One k step: TM/4 row vec4s of A and TN/4 column vec4s of B into TM x TN/4 vec4 accumulators.
  const accDecl: string[] = [];
  const step: string[] = [];
  for (let r = 0; r < TM / 4; r++) step.push(`let a${r} = As[k * ${AS}u + ty + ${r * WY}u];`);
  for (let c = 0; c < TN / 4; c++) step.push(`let b${c} = Bs[k * ${BS}u + tx + ${c * WX}u];`);
  for (let r = 0; r < TM / 4; r++) {
    for (let i = 0; i < 4; i++) {
      for (let c = 0; c < TN / 4; c++) {
        const acc = `acc${r * 4 + i}_${c}`;
        const s = `a${r}.${COMPS[i]}`;
        accDecl.push(`var ${acc}: ${VT};`);
        step.push(ct === 'f32' ? `${acc} = fma(${VT}(${s}), b${c}, ${acc});` : `${acc} += ${s} * b${c};`);
      }
    }
  }

  // Epilogue: bias, relu (select keeps NaN, as the reference does), then one store per element.
  const out: string[] = [];
  for (let c = 0; c < TN / 4; c++) {
    out.push(`let n${c} = col0 + (tx + ${c * WX}u) * 4u;`);
    if (v.biasDtype) out.push(`let bias${c} = ${VT}(${COMPS.map((_, j) => `bias_at(n${c} + ${j}u, N)`).join(', ')});`);
  }
  for (let r = 0; r < TM / 4; r++) {
    for (let i = 0; i < 4; i++) {
      out.push(`{ let m = row0 + (ty + ${r * WY}u) * 4u + ${i}u; if (m < M) { let row = cBase + m * N;`);
      for (let c = 0; c < TN / 4; c++) {
        const acc = `acc${r * 4 + i}_${c}`;
        out.push(`  { ${v.relu ? 'var' : 'let'} s = ${v.biasDtype ? `${acc} + bias${c}` : acc};`);
        if (v.relu) out.push(`    s = select(s, ${VT}(), s < ${VT}());`);
        COMPS.forEach((cc, j) =>
          out.push(`    if (n${c} + ${j}u < N) { C[row + n${c} + ${j}u] = ${convert(`s.${cc}`, v.acc, v.outDtype)}; }`),
        );
        out.push('  }');
      }
      out.push('} }');
    }
  }

  const bindings = [binding(1, 'A', v.aDtype, 'read'), binding(2, 'B', v.bDtype, 'read'), binding(3, 'C', v.outDtype, 'read_write')];
  let biasFn = '';
  if (v.biasDtype) {
    bindings.push(binding(4, 'Bias', v.biasDtype, 'read'));
    biasFn = `fn bias_at(n: u32, N: u32) -> ${ct} {
  if (n < N) { return ${convert(`Bias[pu(${P_BIAS_OFF}u) + n * pu(${P_BIAS_STRIDE}u)]`, v.biasDtype, v.acc)}; }
  return ${ct}();
}`;
  }
  const ind = (lines: string[], n: number): string => lines.map((l) => ' '.repeat(n) + l).join('\n');
  // Barriers sit in uniform control flow: the K loop's bounds come from the uniform parameters.
  return `${PRELUDE}
${bindings.join('\n')}
var<workgroup> As: array<${VT}, ${BK * AS}>;
var<workgroup> Bs: array<${VT}, ${BK * BS}>;
${biasFn}
@compute @workgroup_size(${WX}, ${WY}) fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = pu(${P_M}u); let N = pu(${P_N}u); let K = pu(${P_K}u);
  let sam = pu(${P_SAM}u); let sak = pu(${P_SAK}u); let sbk = pu(${P_SBK}u); let sbn = pu(${P_SBN}u);
  let aAlongK = (pu(${P_ORDER}u) & 1u) != 0u; let bAlongN = (pu(${P_ORDER}u) & 2u) != 0u;
  let tx = lid.x; let ty = lid.y; let tid = ty * ${WX}u + tx;
  let col0 = (wid.x + pu(${P_TILE_X0}u)) * ${BN}u;
  let row0 = (wid.y + pu(${P_TILE_Y0}u)) * ${BM}u;
  let i = wid.z + pu(${P_BATCH0}u);
  ${batchCode}
  let aBase = o0; let bBase = o1; let cBase = i * M * N;
${ind(setup, 2)}
${ind(accDecl, 2)}
  let chunks = (K + ${BK - 1}u) / ${BK}u;
  // Iteration t loads chunk t into registers, multiplies chunk t - 1 (already in workgroup memory)
  // while those loads are in flight, then stores chunk t for the next iteration.
  for (var t = 0u; t <= chunks; t++) {
    if (t < chunks) {
      let k0 = t * ${BK}u;
${ind(load, 6)}
    }
    if (t > 0u) {
      for (var k = 0u; k < ${BK}u; k++) {
${ind(step, 8)}
      }
    }
    workgroupBarrier();
${ind(store, 4)}
    workgroupBarrier();
  }
${ind(out, 2)}
}`;
}

/** Stride of a matrix axis for choosing the load order: an axis of length 1 is never walked. */
const walkStride = (size: number, stride: number): number => (size === 1 ? Infinity : Math.abs(stride));

function checkShapes(a: View, b: View, bias: View | null): { batchShape: number[]; M: number; K: number; N: number } {
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2 || ra !== rb) {
    throw new ShapeError('matmul', `expected operands of equal rank >= 2: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  const [M, K] = [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const N = b.shape[rb - 1]!;
  if (b.shape[rb - 2] !== K) throw new ShapeError('matmul', `inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const batchShape = a.shape.slice(0, -2);
  if (batchShape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError('matmul', `batch dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== N)) {
    throw new ShapeError(
      'matmul',
      `bias must have shape [${N}] for ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}, got ${fmtShape(bias.shape)}`,
    );
  }
  return { batchShape, M, K, N };
}

export function matmul(engine: Engine, a: View, b: View, outDtype: DType, epilogue?: MatmulEpilogue): GpuBuffer {
  const bias = epilogue?.bias ?? null;
  // float64 (and anything else the GPU does not store) is refused here, naming the op.
  for (const d of [a.dtype, b.dtype, outDtype, ...(bias ? [bias.dtype] : [])]) wgslType(d, 'matmul');
  const { batchShape, M, K, N } = checkShapes(a, b, bias);
  const batches = numel(batchShape);
  const out = allocate(engine, outDtype, batches * M * N);
  if (batches * M * N === 0) return out;

  const ra = a.shape.length;
  const [sam, sak] = [a.strides[ra - 2]!, a.strides[ra - 1]!];
  const [sbk, sbn] = [b.strides[ra - 2]!, b.strides[ra - 1]!];
  const intInputs = a.dtype !== 'float32' && b.dtype !== 'float32' && bias?.dtype !== 'float32';
  const acc = intInputs && outDtype !== 'float32' ? 'int32' : 'float32';
  const variant: Variant = {
    aDtype: a.dtype,
    bDtype: b.dtype,
    outDtype,
    acc,
    biasDtype: bias ? bias.dtype : null,
    relu: !!epilogue?.relu,
  };
  // Neighbouring threads load along the axis with the smaller stride, so their reads coalesce.
  const order = (walkStride(K, sak) <= walkStride(M, sam) ? 1 : 0) | (walkStride(N, sbn) <= walkStride(K, sbk) ? 2 : 0);
  const tile = chooseTile(M, N, batches, engine.device.limits);
  // Everything source() reads besides the batch addressing (whose layout batchIdx.key names).
  const kernelKey = `matmul|${tile.BM}.${tile.BN}.${tile.BK}.${tile.TM}.${tile.TN}|${a.dtype}|${b.dtype}|${outDtype}|${acc}|${variant.biasDtype ?? '-'}|${variant.relu ? 'relu' : ''}`;

  const tilesX = Math.ceil(N / tile.BN);
  const tilesY = Math.ceil(M / tile.BM);
  const buffers = [bufOf(a).buffer, bufOf(b).buffer, out.buffer, ...(bias ? [bufOf(bias).buffer] : [])];
  // Usually one dispatch; grids beyond 65535 workgroups along an axis go in several, each told where
  // its first tile and batch lie.
  for (let z0 = 0; z0 < batches; z0 += MAX_GROUPS) {
    for (let y0 = 0; y0 < tilesY; y0 += MAX_GROUPS) {
      for (let x0 = 0; x0 < tilesX; x0 += MAX_GROUPS) {
        const p = new Params()
          .u(M, N, K)
          .i(sam, sak, sbk, sbn)
          .u(bias?.offset ?? 0)
          .i(bias?.strides[0] ?? 0)
          .u(order, x0, y0, z0);
        const batchIdx = stridedIndex('matmul', p, batchShape, [
          { offset: a.offset, strides: a.strides.slice(0, -2) },
          { offset: b.offset, strides: b.strides.slice(0, -2) },
        ]);
        const code = (): string => source(tile, variant, batchIdx.code);
        const groups: [number, number, number] = [
          Math.min(MAX_GROUPS, tilesX - x0),
          Math.min(MAX_GROUPS, tilesY - y0),
          Math.min(MAX_GROUPS, batches - z0),
        ];
        engine.dispatch({ key: `${kernelKey}|${batchIdx.key}`, code }, buffers, p, groups);
      }
    }
  }
  return out;
}
