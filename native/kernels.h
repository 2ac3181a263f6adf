// Every native kernel: X(name, number of arguments). The name and arguments are those of the
// WebAssembly kernel it stands in for (src/backend/cpu/wasm/kernels.ts); binding.c exports each under
// that name and test/native-binding.test.ts checks the two lists agree.
#define MOX_NATIVE_KERNELS(X) \
  X(sgemm, 14)                \
  X(sgemmBatched, 18)         \
  X(q8MatmulF32, 11)          \
  X(quantizeRowsU7, 7)        \
  X(q8DynMatmul, 11)          \
  X(quantizeRowsQ8, 8)        \
  X(q4MatmulQ8, 11)
