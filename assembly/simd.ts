// SIMD helpers shared by the kernels. `fma` is one fused instruction with relaxed SIMD (the build that
// enables it) and a multiply then add otherwise: the relaxed build may round once instead of twice.

@inline
export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}
