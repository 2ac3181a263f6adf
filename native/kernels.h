// Every native kernel: X(name, number of arguments). The name and arguments are those of the
// WebAssembly kernel it stands in for (src/backend/cpu/wasm/kernels.ts); binding.c exports each under
// that name and test/native-tier.test.ts checks the two lists agree.
#define MOX_NATIVE_KERNELS(X)        \
  X(sgemm, 14)                       \
  X(sgemmBatched, 18)                \
  X(softmaxRows, 6)                  \
  X(layerNormRows, 11)               \
  X(layerNormBackwardRows, 11)       \
  X(layerNormParams, 12)             \
  X(crossEntropyRows, 9)             \
  X(crossEntropyBackwardRows, 11)    \
  X(attentionF32, 17)                \
  X(attentionBackwardF32, 21)        \
  X(adamStepF32, 14)                 \
  X(im2colF32, 24)                   \
  X(col2imF32, 20)                   \
  X(maxPool2dF32, 22)                \
  X(maxPool2dBackwardF32, 18)        \
  X(avgPool2dF32, 23)                \
  X(avgPool2dBackwardF32, 23)        \
  X(unaryF32, 9)                     \
  X(binaryF32, 10)                   \
  X(compareF32, 10)                  \
  X(whereF32, 12)                    \
  X(reduceRowsF32, 7)                \
  X(reduceColsF32, 7)                \
  X(scatterAddRowsF32, 9)             \
  X(q8MatmulF32, 11)                 \
  X(quantizeRowsU7, 7)               \
  X(q8DynMatmul, 11)                 \
  X(quantizeRowsQ8, 8)               \
  X(q4MatmulQ8, 11)
