// Compression inside the collective (docs/compression.md): codecs that turn a chunk of a tensor into a
// self-checking frame and back. The algorithms in native/algo/ send frames instead of raw chunks when a
// codec is on; this header is all they see.
//
// A frame = a 32-byte header (magic, codec, dtype, element count, payload bytes, CRC32C) + the payload.
// decode() checks the header and the CRC32C of header and payload before it writes a single element:
// a corrupt or foreign frame is kProto, never decoded into a result.
//
// Codecs (lossy ones on f32 only; lossless ones on every dtype):
//   bf16, fp16  cast each f32 (round to nearest even)                      2 bytes / element
//   int8        per block of kInt8Block elements: f32 scale = max|x|/127    ~1.02 bytes / element
//   topk:R      the ceil(R·n) largest |x|: u32 index + f32 value each       8R bytes / element
//   zstd, lz4   byte-shuffle (byte j of every element together), then       data-dependent; bit-exact
//               libzstd level 1 / liblz4; stored raw when that is smaller
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/types.h"

namespace onet::codec {

enum class Kind : uint8_t { off = 0, bf16 = 1, fp16 = 2, int8 = 3, topk = 4, zstd = 5, lz4 = 6 };
constexpr size_t kInt8Block = 256;
constexpr size_t kHeaderBytes = 32;

struct Spec {
  Kind kind = Kind::off;
  double ratio = 0.01;  // topk: fraction of the elements kept, (0, 1]
  bool on() const { return kind != Kind::off; }
};

// "off", "bf16", "fp16", "int8", "topk:0.01" (or "topk:1%"), "zstd", "lz4". "auto" is the coordinator's
// to resolve (it picks one of these per link); here it is kInvalid like any other unknown name.
Status parse(const std::string& text, Spec* out);
std::string name(const Spec& s);  // the text parse() accepts: "topk:0.01"
bool is_lossless(Kind k);
// Whether this build has the codec (zstd/lz4 need libzstd/liblz4 at build time); *why says what to install.
bool available(Kind k, std::string* why = nullptr);
// Whether the codec can carry this dtype and reduce op in an allreduce: lossy codecs take f32 sum
// (avg and premul_sum are summed across hosts); lossless ones take everything.
bool applies(const Spec& s, DType dt, RedOp op);
// A u32 every host must agree on (codec and parameter, < 2^31); 0 = off. from_fingerprint inverts it.
uint32_t fingerprint(const Spec& s);
Spec from_fingerprint(uint32_t f);

// The largest frame encode() can produce for n elements (header included).
size_t max_frame_bytes(const Spec& s, DType dt, size_t n);
// Encodes n elements of src into frame (max_frame_bytes room); *frame_bytes = header + payload.
// kInvalid when the codec does not apply to dt, or a lossy codec meets a non-finite value;
// kUnsupported when the build lacks the library.
Status encode(const Spec& s, DType dt, const void* src, size_t n, char* frame, size_t* frame_bytes);
// Payload bytes announced by a frame's header, after checking its magic and that it describes n
// elements of dt and fits in max_payload bytes (a receiver learns how much to receive from it).
Status payload_bytes(const char* header, DType dt, size_t n, size_t max_payload, size_t* out);
// Checks the frame (header, CRC32C) and decodes its n elements of dt into dst. kProto on any damage.
Status decode(const char* frame, size_t frame_bytes, DType dt, size_t n, void* dst);

// CRC32C (Castagnoli), SSE4.2 when the CPU has it; crc32c(crc32c(0, a), b) == crc32c(0, a‖b).
uint32_t crc32c(uint32_t crc, const void* data, size_t bytes);

}  // namespace onet::codec
