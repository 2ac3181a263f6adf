// The op codes of the elementwise and reduction kernels: the one table both sides read. The
// AssemblyScript kernels (assembly/elementwise.ts, assembly/reduce.ts) import these constants and
// switch on them; the TypeScript callers (elementwise.ts here) map the Backend's op names to them.
// AssemblyScript compiles this file as it is, so it must hold nothing but integer constants: no
// imports, no objects, no type annotations (it infers i32, and inlines each as a literal).

// unary: o = f(x; p0, p1)
export const UNARY_NEG = 0;
export const UNARY_ABS = 1;
export const UNARY_SQRT = 2;
export const UNARY_RSQRT = 3;
export const UNARY_SQUARE = 4;
export const UNARY_RECIPROCAL = 5;
export const UNARY_RELU = 6;
export const UNARY_LEAKY_RELU = 7;
export const UNARY_AFFINE = 8;
export const UNARY_CLAMP = 9;
export const UNARY_EXP = 10;
export const UNARY_LOG = 11;
export const UNARY_TANH = 12;
export const UNARY_SIGMOID = 13;
export const UNARY_SILU = 14;
export const UNARY_SOFTPLUS = 15;
export const UNARY_SIN = 16;
export const UNARY_COS = 17;
export const UNARY_LOG1P = 18;
export const UNARY_EXPM1 = 19;
export const UNARY_GELU_TANH = 20;
export const UNARY_GELU_TANH_GRAD = 21;

// binary arithmetic: o = a op b
export const BINARY_ADD = 0;
export const BINARY_SUB = 1;
export const BINARY_MUL = 2;
export const BINARY_DIV = 3;
export const BINARY_MAX = 4;
export const BINARY_MIN = 5;
export const BINARY_POW = 6;

// comparisons: o = (a op b) as a 0/1 byte
export const COMPARE_EQ = 0;
export const COMPARE_NE = 1;
export const COMPARE_LT = 2;
export const COMPARE_LE = 3;
export const COMPARE_GT = 4;
export const COMPARE_GE = 5;

// reductions (reduceRowsF32, reduceColsF32)
export const REDUCE_SUM = 0;
export const REDUCE_MAX = 1;
export const REDUCE_MIN = 2;
