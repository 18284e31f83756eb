// Reduce kernels for the generic path, built with plain -O3 (SSE2 baseline) (CMakeLists.txt).
#define ONET_REDUCE_NS generic
#include "reduce/kernels_impl.inc"
