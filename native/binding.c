// The Node-API module: one JavaScript function per kernel of kernels.h, each calling the variant of
// the level chosen at init (AVX-512, AVX2 or the baseline). Compiled once, with baseline flags; the
// level variants are in the per-level objects of each family file (see mox.h).
#include <node_api.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "mox.h"

uint8_t *mox_heap = NULL;

typedef void (*kernel_fn)(const double *);

#if defined(__x86_64__) || defined(_M_X64)
#define MOX_X86 1
#define DECLARE(name, n) \
  void name##_base(const double *); void name##_avx2(const double *); void name##_avx512(const double *);
#define ENTRY(name, n) {#name, n, {name##_base, name##_avx2, name##_avx512}},
static const char *LEVELS[] = {"base", "avx2", "avx512"};
#else
#define DECLARE(name, n) void name##_base(const double *);
#define ENTRY(name, n) {#name, n, {name##_base, NULL, NULL}},
#if defined(__aarch64__)
static const char *LEVELS[] = {"neon"};
#else
static const char *LEVELS[] = {"base"};
#endif
#endif
#define NLEVELS ((int)(sizeof(LEVELS) / sizeof(LEVELS[0])))

MOX_NATIVE_KERNELS(DECLARE)

typedef struct {
  const char *name;
  int nargs;
  kernel_fn fn[3];
} entry;

static entry TABLE[] = {MOX_NATIVE_KERNELS(ENTRY)};
#define NKERNELS ((int)(sizeof(TABLE) / sizeof(TABLE[0])))

/** The chosen level (index into LEVELS), -1 until init. Set once, by the first thread to call init. */
static int level = -1;

/** Whether this CPU (and its OS, which must save the wide registers) runs level i. */
static int cpu_runs(int i) {
#ifdef MOX_X86
  __builtin_cpu_init();
  if (i == 2)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (i == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif
  return i == 0;
}

static napi_value throw_error(napi_env env, const char *msg) {
  napi_throw_error(env, "MOX_NATIVE", msg);
  return NULL;
}

static napi_value call_kernel(napi_env env, napi_callback_info info) {
  size_t argc = 32;
  napi_value argv[32];
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, &data) != napi_ok) return throw_error(env, "mox native: bad call");
  const entry *e = (const entry *)data;
  if (level < 0 || mox_heap == NULL) return throw_error(env, "mox native: init() and setHeap() must run first");
  if ((int)argc < e->nargs) {
    char msg[160];
    snprintf(msg, sizeof msg, "mox native: %s takes %d arguments, got %d", e->name, e->nargs, (int)argc);
    return throw_error(env, msg);
  }
  double a[32];
  for (int i = 0; i < e->nargs; i++) {
    if (napi_get_value_double(env, argv[i], &a[i]) != napi_ok) {
      char msg[160];
      snprintf(msg, sizeof msg, "mox native: %s: argument %d is not a number", e->name, i);
      return throw_error(env, msg);
    }
  }
  e->fn[level](a);
  return NULL;
}

static napi_value make_string(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/** levels(): the levels this CPU runs, best last. */
static napi_value js_levels(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t n = 0;
  for (int i = 0; i < NLEVELS; i++)
    if (cpu_runs(i)) napi_set_element(env, arr, n++, make_string(env, LEVELS[i]));
  return arr;
}

/** init(name): selects a level ("best" = the widest the CPU runs); returns its name. Throws when the CPU cannot run it. */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char want[32] = "best";
  if (argc >= 1) napi_get_value_string_utf8(env, argv[0], want, sizeof want, NULL);
  int pick = -1;
  if (strcmp(want, "best") == 0) {
    for (int i = 0; i < NLEVELS; i++)
      if (cpu_runs(i)) pick = i;
#ifdef MOX_X86
    // x86-64's baseline is SSE2: no FMA, 16 registers; there the exp-heavy kernels run slower than
    // WebAssembly's relaxed SIMD, so it is only used when asked for (MOX_CPU_KERNELS=native-base)
    if (pick == 0) return throw_error(env, "mox native: this CPU has no AVX2; the WebAssembly kernels are as fast as native-base");
#endif
  } else {
    for (int i = 0; i < NLEVELS; i++)
      if (strcmp(want, LEVELS[i]) == 0) pick = i;
    if (pick < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "mox native: no level '%s' on this architecture", want);
      return throw_error(env, msg);
    }
    if (!cpu_runs(pick)) {
      char msg[160];
      snprintf(msg, sizeof msg, "mox native: this CPU cannot run level '%s'", want);
      return throw_error(env, msg);
    }
  }
  if (level >= 0 && level != pick) return throw_error(env, "mox native: the level is already set for this process");
  level = pick;
  return make_string(env, LEVELS[level]);
}

/** setHeap(bytes): the Uint8Array over the whole shared WebAssembly memory; returns its base address. */
static napi_value js_set_heap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value buffer;
  size_t offset;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &buffer, &offset) != napi_ok ||
      type != napi_uint8_array || offset != 0 || data == NULL)
    return throw_error(env, "mox native: setHeap takes a Uint8Array over the whole memory");
  if (mox_heap != NULL && mox_heap != (uint8_t *)data)
    return throw_error(env, "mox native: the heap moved (the kernels need a shared memory)");
  mox_heap = (uint8_t *)data;
  napi_value out;
  napi_create_double(env, (double)(uintptr_t)data, &out);
  return out;
}

/** arity(): { kernel name: number of arguments }, for the test that holds them to the WebAssembly twins. */
static napi_value js_arity(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj;
  napi_create_object(env, &obj);
  for (int i = 0; i < NKERNELS; i++) {
    napi_value n;
    napi_create_int32(env, TABLE[i].nargs, &n);
    napi_set_named_property(env, obj, TABLE[i].name, n);
  }
  return obj;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[NKERNELS + 4];
  memset(props, 0, sizeof props);
  for (int i = 0; i < NKERNELS; i++) {
    props[i].utf8name = TABLE[i].name;
    props[i].method = call_kernel;
    props[i].data = &TABLE[i];
    props[i].attributes = napi_enumerable;
  }
  props[NKERNELS] = (napi_property_descriptor){"levels", NULL, js_levels, NULL, NULL, NULL, napi_default, NULL};
  props[NKERNELS + 1] = (napi_property_descriptor){"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL};
  props[NKERNELS + 2] = (napi_property_descriptor){"setHeap", NULL, js_set_heap, NULL, NULL, NULL, napi_default, NULL};
  props[NKERNELS + 3] = (napi_property_descriptor){"arity", NULL, js_arity, NULL, NULL, NULL, napi_default, NULL};
  napi_define_properties(env, exports, NKERNELS + 4, props);
  return exports;
}
