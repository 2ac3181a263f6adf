// The op codes of the elementwise and reduction kernels, mirrored from
// src/backend/cpu/wasm/op-codes.ts (the one table): test/native-elementwise.test.ts parses both files
// and fails if any name or number differs, so the two can never drift apart unnoticed.
#ifndef MOX_OP_CODES_H
#define MOX_OP_CODES_H

#define UNARY_NEG 0
#define UNARY_ABS 1
#define UNARY_SQRT 2
#define UNARY_RSQRT 3
#define UNARY_SQUARE 4
#define UNARY_RECIPROCAL 5
#define UNARY_RELU 6
#define UNARY_LEAKY_RELU 7
#define UNARY_AFFINE 8
#define UNARY_CLAMP 9
#define UNARY_EXP 10
#define UNARY_LOG 11
#define UNARY_TANH 12
#define UNARY_SIGMOID 13
#define UNARY_SILU 14
#define UNARY_SOFTPLUS 15
#define UNARY_SIN 16
#define UNARY_COS 17
#define UNARY_LOG1P 18
#define UNARY_EXPM1 19
#define UNARY_GELU_TANH 20
#define UNARY_GELU_TANH_GRAD 21
#define BINARY_ADD 0
#define BINARY_SUB 1
#define BINARY_MUL 2
#define BINARY_DIV 3
#define BINARY_MAX 4
#define BINARY_MIN 5
#define BINARY_POW 6
#define COMPARE_EQ 0
#define COMPARE_NE 1
#define COMPARE_LT 2
#define COMPARE_LE 3
#define COMPARE_GT 4
#define COMPARE_GE 5
#define REDUCE_SUM 0
#define REDUCE_MAX 1
#define REDUCE_MIN 2

#endif
