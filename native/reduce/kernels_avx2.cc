// Reduce kernels for the avx2 path, built with -mavx2 -mfma -mf16c (CMakeLists.txt).
#define ONET_REDUCE_NS avx2
#include "reduce/kernels_impl.inc"
