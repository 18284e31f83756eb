// Rank-side fast lane (docs/performance.md "Rank-side fast lane"): the ranks of a communicator that
// lives on one host run small collectives among themselves in a shared segment, without the
// coordinator. Each rank copies its contribution into its own block, publishes a sequence number,
// spins briefly and then sleeps on a futex until every peer published the same number, and then
// reads all blocks, folding them in group-rank order with the engine's kernels (reduce/reduce.h),
// so every rank gets the engine's bit-exact result.
//
// Segment layout (python/opennetworks/_fastlane_layout.py mirrors it; both impls share a segment):
//   [0, head)            header: Head, then one 64-byte Line per group rank at 64·(1 + r)
//   head + (2r + p)·blk  rank r's block for calls of parity p = seq % 2: a 64-byte Desc, then cap bytes
// where head = round_up(64·(P + 1), 4096) and blk = 64 + round_up(cap, 64).
//
// Why two blocks per rank and no "done reading" flag: a rank starts call k only after it saw every
// peer publish k-1, and a peer publishes k-1 only after it finished reading call k-2, the last call
// that used the parity-k blocks. So writing one's parity-k block can never race a reader.
#pragma once
#include <cstddef>
#include <cstdint>

namespace onet::fastlane {

constexpr uint32_t kMagic = 0x4C46'4E4F;  // "ONFL"
constexpr uint32_t kVersion = 1;

struct Head {               // at 0
  uint32_t magic, version;  // 0, 4
  uint32_t size, reserved;  // 8: group size P
  uint64_t cap;             // 16: bytes of one rank's block (ONET_FASTLANE_MAX_BYTES at creation)
  uint32_t wake;            // 24: futex word, bumped after every publish
  uint32_t aborted;         // 28: 0, or 1 + the global rank that aborted the communicator
};

struct Line {              // at 64·(1 + r), one cache line per group rank
  uint64_t seq;            // 0: the last call this rank published
  uint32_t pid, sleeping;  // 8, 12: owner; 1 while it sleeps (or is about to) on Head::wake
  uint64_t start;          // 16: /proc/<pid>/stat start time (0: unknown)
  int32_t global_rank;     // 24
  uint32_t attached;       // 28
};

struct Desc {            // first 64 bytes of a block: what the rank called, for mismatch checks
  uint64_t seq;          // 0
  uint32_t coll, dtype;  // 8, 12
  uint32_t redop, root;  // 16, 20
  uint64_t count;        // 24
  double scale;          // 32
};

inline uint64_t head_bytes(uint32_t P) { return (64ull * (P + 1) + 4095) & ~4095ull; }
inline uint64_t block_bytes(uint64_t cap) { return 64 + ((cap + 63) & ~63ull); }
inline uint64_t segment_bytes(uint32_t P, uint64_t cap) { return head_bytes(P) + 2ull * P * block_bytes(cap); }

}  // namespace onet::fastlane

extern "C" {
// One collective. base: the mapped segment; rank: this rank's group rank; seq: this comm's call
// number (1, 2, ...); coll/dtype/redop/root/count: as in a slot (docs/protocol.md §5; count =
// elements per rank as the engine counts them). in: in_bytes bytes of contribution (ignored for a
// non-root broadcast); out: the result (P·count elements for allgather). Returns the Code number
// (0 = ok); on error writes a message to msg and up to max_ranks global ranks to ranks (count in
// *nranks). Waits at most timeout_s; wakes every 50 ms to check peers' liveness and the abort word.
int onet_fl_run(void* base, int rank, uint64_t seq, int coll, int dtype, int redop, int root, uint64_t count,
                double scale, const void* in, uint64_t in_bytes, void* out, double spin_us, double timeout_s, char* msg,
                size_t msg_len, int* ranks, int max_ranks, int* nranks);
// The same call with its arguments in one struct (python/opennetworks/_fastlane_native.py packs it
// with struct.pack_into: ctypes converts 19 separate arguments in ~7 µs, one pointer in ~0.5 µs).
struct onet_fl_call_t {
  void* base;
  int32_t rank, coll;
  uint64_t seq;
  int32_t dtype, redop, root, reserved;
  uint64_t count;
  double scale;
  const void* in;
  uint64_t in_bytes;
  void* out;
  double spin_us, timeout_s;
  int32_t nranks, ranks[64];  // out: the ranks an error names
  char msg[1024];             // out: the error message
};
int onet_fl_call(onet_fl_call_t* c);
// Marks the communicator aborted by global rank `who` and wakes every sleeper.
void onet_fl_abort(void* base, int who);
// The instruction set the reduce kernels use ("avx512", "avx2", "generic").
const char* onet_fl_isa();
}
