// What every native kernel file shares. Each family file (matmul.c, rows.c, ...) is compiled once per
// dispatch level, with MOX_LEVEL_<level> defined and that level's -m flags: the same source then
// yields name_avx512, name_avx2 and name_base (on arm64 only name_base, NEON being its baseline).
// binding.c picks one set at run time from what the CPU supports, or what MOX_CPU_KERNELS asks.
//
// The kernels work on the WebAssembly heap in place: every pointer argument is a byte address in the
// shared WebAssembly.Memory, as for the WebAssembly kernels, added to mox_heap (the memory's base,
// which binding.c learns once: a shared memory never moves when it grows). A kernel has the same
// name, arguments and meaning as its WebAssembly twin (src/backend/cpu/wasm/kernels.ts), so the
// TypeScript callers, their splitting rules and the thread pool serve both tiers unchanged.
#ifndef MOX_H
#define MOX_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

extern uint8_t *mox_heap;

#if defined(MOX_LEVEL_avx512)
#define MOX_VW 16
#define MOX_SUFFIX avx512
#elif defined(MOX_LEVEL_avx2)
#define MOX_VW 8
#define MOX_SUFFIX avx2
#else
#define MOX_VW 4
#define MOX_SUFFIX base
#endif

#define MOX_CAT2(a, b) a##_##b
#define MOX_CAT(a, b) MOX_CAT2(a, b)
/** Defines kernel `name` for this level: its arguments arrive as the doubles JavaScript passed. */
#define MOX_KERNEL(name) void MOX_CAT(name, MOX_SUFFIX)(const double *arg)

// A kernel's arguments, read by position from the JavaScript call.
#define ARG_I(i) ((int32_t)arg[i])
#define ARG_F(i) ((float)arg[i])
#define ARG_D(i) (arg[i])
#define ARG_P(i) ((void *)(mox_heap + (uint64_t)arg[i]))
#define ARG_FP(i) ((float *)ARG_P(i))

// One vector of this level's width, through GCC's vector extensions, so one source serves every
// width: 16 floats with AVX-512, 8 with AVX2, 4 with SSE2 or NEON.
typedef float vf __attribute__((vector_size(MOX_VW * 4)));
typedef float vf_u __attribute__((vector_size(MOX_VW * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(MOX_VW * 4)));

static inline vf vload(const float *p) { return *(const vf_u *)p; }
static inline void vstore(float *p, vf v) { *(vf_u *)p = v; }
#if MOX_VW == 16
#define MOX_SPLAT(x) {x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}
#elif MOX_VW == 8
#define MOX_SPLAT(x) {x, x, x, x, x, x, x, x}
#else
#define MOX_SPLAT(x) {x, x, x, x}
#endif
/** x in every lane (an initializer, not 0 + x, which would cost an add before each broadcast). */
static inline vf vsplat(float x) { return (vf)MOX_SPLAT(x); }
/** Lane-wise select: where mask (all ones) a, else b. C has no vector ?: so it is done with bits. */
static inline vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
static inline vf vmax(vf a, vf b) { return vselect(a > b, a, b); }
static inline vf vmin(vf a, vf b) { return vselect(a < b, a, b); }
static inline float vsum(vf v) {
  float s = 0;
  for (int i = 0; i < MOX_VW; i++) s += v[i];
  return s;
}

#define MOX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MOX_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
