// Fused in-place Adam/AdamW step over n float32s (PyTorch 1.13's rule), one pass over memory instead
// of the ~10 tensors the composed version reads and writes. The host splits big tensors into ranges,
// one per thread; ranges are disjoint, so threads never touch the same bytes.
//
// vmax = 0 means no amsgrad. flags: 1 maximize, 2 decoupled weight decay (AdamW), 4 L2 weight decay.
//
// No fused multiply-add even in the relaxed build: the kernel is bound by memory, not arithmetic, and
// rounding each product like the composed ops do keeps both builds' results identical. (With L2 decay,
// grad + wd * param can cancel to near zero, and Adam's normalisation turns one rounding of that
// difference into an O(lr) change of the weight.)

export function adamStepF32(p: usize, g: usize, m: usize, v: usize, vmax: usize, n: i32,
  beta1: f64, beta2: f64, eps: f64, weightDecay: f64, decay: f64, stepSize: f64, bc2Sqrt: f64, flags: i32): void {
  const maximize = (flags & 1) != 0;
  const decoupled = (flags & 2) != 0;
  const l2 = (flags & 4) != 0;
  const b1 = <f32>beta1, c1 = <f32>(1 - beta1);
  const b2 = <f32>beta2, c2 = <f32>(1 - beta2);
  const e = <f32>eps, wd = <f32>weightDecay, dk = <f32>decay, ss = <f32>stepSize, bc = <f32>bc2Sqrt;
  const B1 = f32x4.splat(b1), C1 = f32x4.splat(c1), B2 = f32x4.splat(b2), C2 = f32x4.splat(c2);
  const E = f32x4.splat(e), WD = f32x4.splat(wd), DK = f32x4.splat(dk), SS = f32x4.splat(ss), BC = f32x4.splat(bc);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    let pv = v128.load(p + o);
    let gv = v128.load(g + o);
    if (maximize) gv = f32x4.neg(gv);
    if (l2) gv = f32x4.add(gv, f32x4.mul(pv, WD));
    const mv = f32x4.add(f32x4.mul(v128.load(m + o), B1), f32x4.mul(gv, C1));
    const vv = f32x4.add(f32x4.mul(v128.load(v + o), B2), f32x4.mul(f32x4.mul(gv, gv), C2));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
    let s = vv;
    if (vmax) {
      s = f32x4.max(v128.load(vmax + o), vv);
      v128.store(vmax + o, s);
    }
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(s), BC), E);
    if (decoupled) pv = f32x4.mul(pv, DK);
    v128.store(p + o, f32x4.sub(pv, f32x4.div(f32x4.mul(mv, SS), denom)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    let pv = load<f32>(p + o);
    let gv = load<f32>(g + o);
    if (maximize) gv = -gv;
    if (l2) gv += wd * pv;
    const mv = b1 * load<f32>(m + o) + c1 * gv;
    const vv = b2 * load<f32>(v + o) + c2 * gv * gv;
    store<f32>(m + o, mv);
    store<f32>(v + o, vv);
    let s = vv;
    if (vmax) {
      s = max<f32>(load<f32>(vmax + o), vv);
      store<f32>(vmax + o, s);
    }
    if (decoupled) pv *= dk;
    store<f32>(p + o, pv - (mv * ss) / (sqrt<f32>(s) / bc + e));
  }
}
