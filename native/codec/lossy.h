// Payload coders of the lossy codecs (f32 only); codec.cc frames them. Internal to native/codec/.
#pragma once
#include "codec/codec.h"

namespace onet::codec::lossy {

size_t topk_k(size_t n, double ratio);           // elements top-k keeps of n
size_t payload(Kind k, size_t n, double ratio);  // exact payload bytes for n elements
Status encode(Kind k, double ratio, const float* x, size_t n, char* out);
Status decode(Kind k, size_t kk, const char* in, size_t n, float* x);  // kk: top-k's kept count

}  // namespace onet::codec::lossy
