// Reduce kernels for the avx512 path, built with -mavx512f/bw/vl/dq, 512-bit vectors (CMakeLists.txt).
#define ONET_REDUCE_NS avx512
#include "reduce/kernels_impl.inc"
