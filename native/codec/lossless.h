// Payload coders of the lossless codecs (every dtype): byte-shuffle, then libzstd or liblz4.
// Internal to native/codec/; codec.cc frames them.
#pragma once
#include "codec/codec.h"

namespace onet::codec::lossless {

bool have(Kind k, std::string* why);
size_t bound(Kind k, size_t bytes);  // largest payload for `bytes` of input (raw fallback included)
// *out_bytes = payload size; *raw = true when the compressor did not pay and the bytes are stored shuffled.
Status encode(Kind k, size_t esize, const void* src, size_t bytes, char* out, size_t* out_bytes, bool* raw);
Status decode(Kind k, size_t esize, bool raw, const char* in, size_t in_bytes, void* dst, size_t bytes);

}  // namespace onet::codec::lossless
