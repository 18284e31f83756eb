// Rank-side fast lane (docs/performance.md "Rank-side fast lane"): the ranks of a communicator that
// lives on one host run small collectives among themselves in a shared segment, without the
// coordinator. Each rank copies its contribution into its own block, publishes a sequence number,
// spins briefly and then sleeps on a futex until every peer published the same number, and then
// reads all blocks, folding them in group-rank order with the engine's kernels (reduce/reduce.h),
// so every rank gets the engine's bit-exact result.
//
// Segment layout (python/opennetworks/_fastlane_layout.py mirrors it; both impls share a segment):
//   [0, head)            header: Head, then one 64-byte Line per group rank at 64·(1 + r), then one
//                        128-byte ArenaEntry per group rank at 64·(P + 1) + 128·r
//   head + (2r + p)·blk  rank r's block for calls of parity p = seq % 2: a 64-byte Desc, then cap bytes
// where head = round_up(64·(P + 1) + 128·P, 4096) and blk = 64 + round_up(cap, 64).
//
// Why two blocks per rank and no "done reading" flag: a rank starts call k only after it saw every
// peer publish k-1, and a peer publishes k-1 only after it finished reading call k-2, the last call
// that used the parity-k blocks. So writing one's parity-k block can never race a reader.
//
// Cooperative allreduce (version 2; coop() below says when, from P, the bytes and Head::coop_min,
// which group rank 0 writes at creation, so every rank decides alike): after
// everyone published k, group rank r folds only its slice r (coop_slice) of every block, in
// group-rank order, into that slice of group rank 0's block (the fold may overwrite its first input),
// publishes k in Line::red, waits until every peer's red is k, and copies rank 0's whole block to
// its output. Each rank reads P·S/P + S bytes instead of P·S. The slices are disjoint and every
// reader of block 0 finishes before it publishes k+1, so the argument above still holds.
//
// Direct calls (version 3, allreduce and reduce_scatter since 4; a call whose input is at least
// ONET_FASTLANE_DIRECT_MIN_BYTES per rank, flag kDirect, decided by every binding with direct_call() below): the block
// holds only the Desc, whose addr is the caller's own tensor and out its output. After everyone published k, each rank
// reads what it needs straight from its peers' tensors with process_vm_readv (one move per byte, as MPI's CMA single
// copy; a broadcast's receivers read the first (P-1)/P of it and the root writes the rest of every
// receiver's output with process_vm_writev, so that P ranks share the (P-1)·S bytes evenly; an allgather's rank r
// reads block q from every peer q, except that since version 5 an output inside its owner's arena
// (allgather_pushed) gets block q written into it by rank q, piece by piece (kPushPiece); an allreduce's
// rank r reads slice r (coop_slice) of every peer's input, folds it in group-rank order and writes the result
// into slice r of every peer's output, piece by piece while it is in cache (a reduce_scatter's rank r folds block
// r of every peer's input into its output and writes nothing); a peer's tensor
// inside that peer's arena (its ArenaEntry) is copied with memcpy through a mapping of that arena instead:
// arena pages are 4 KiB shared-memory pages, which process_vm_readv pins one by one), writes
// Line::bad = k with the errno if a read failed, publishes k in Line::red and waits until every peer's
// red is k: no source tensor is released while a peer may still read it, and no output is used while a peer
// may still write it. Every rank then scans the same
// bad words, so a failed read fails the call on every rank alike (no rank is left waiting).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace onet {
struct Status;  // common/status.h (not included: the torch and JAX bindings see only this header's C API)
}

namespace onet::fastlane {

constexpr uint32_t kMagic = 0x4C46'4E4F;  // "ONFL"
// 2: cooperative allreduce, Line::red, calls in pieces; 3: direct calls; 4: direct allreduces and reduce_scatters;
// 5: a direct allgather's blocks are pushed into outputs that lie in an arena (allgather_pushed)
constexpr uint32_t kVersion = 5;
// A pushed allgather block's unit: read once from the input, written to every such peer while it is in cache (L2).
constexpr uint64_t kPushPiece = 256ull << 10;
constexpr uint32_t kDirect = 1;  // Desc::flags / onet_fl_call_t::flags: a direct call (above)

struct Head {               // at 0
  uint32_t magic, version;  // 0, 4
  uint32_t size, coop_min;  // 8: group size P; 12: smallest cooperative allreduce in bytes per rank (0: none)
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
  uint64_t red;            // 32: the last cooperative allreduce (or direct call) this rank finished reading for
  uint64_t bad;            // 40: the last direct call in which a read of this rank failed
  int32_t bad_errno;       // 48: its errno
  int32_t bad_peer;        // 52: the global rank it could not read
};

struct Desc {            // first 64 bytes of a block: what the rank called, for mismatch checks
  uint64_t seq;          // 0
  uint32_t coll, dtype;  // 8, 12
  uint32_t redop, root;  // 16, 20
  uint64_t count;        // 24
  double scale;          // 32
  uint64_t addr;         // 40: a direct call's source tensor in the caller's process (0: none)
  uint32_t flags;        // 48: kDirect
  uint32_t pad;          // 52
  uint64_t out;          // 56: a direct call's output in the caller's process (a broadcast's root writes part of it)
};

struct ArenaEntry {  // a rank's own arena (its shared-memory tensors), written once at attach; bytes 0: none
  char name[112];    // where a peer opens it: "/proc/<pid>/fd/<fd>" (or a /dev/shm name), NUL-terminated
  uint64_t base;     // 112: where the owner mapped it
  uint64_t bytes;    // 120: the mapping's length
};
static_assert(sizeof(Line) <= 64 && sizeof(Desc) <= 64 && sizeof(ArenaEntry) == 128, "layout");
inline uint64_t head_bytes(uint32_t P) { return (64ull * (P + 1) + 128ull * P + 4095) & ~4095ull; }
inline uint64_t arena_entry_offset(uint32_t P, uint32_t r) { return 64ull * (P + 1) + 128ull * r; }
inline uint64_t block_bytes(uint64_t cap) { return 64 + ((cap + 63) & ~63ull); }
inline uint64_t segment_bytes(uint32_t P, uint64_t cap) { return head_bytes(P) + 2ull * P * block_bytes(cap); }
// Whether an allreduce of `bytes` per rank among P ranks folds cooperatively (every slice non-empty).
inline bool coop(uint32_t P, uint64_t bytes, uint32_t coop_min) {
  return P >= 2 && coop_min && bytes >= coop_min && bytes >= 256ull * P * P;
}
// Whether a collective (wire code: allreduce 1, broadcast 3, allgather 4, reduce_scatter 6) whose input is `bytes`
// per rank (a reduce_scatter's P blocks) is a direct call: at least direct_min bytes, a reduce_scatter more than
// that (at exactly the 1 MiB block its copy in and fold beat the direct reads: docs/performance.md "Direct
// reduce_scatter"). The same rule in _fastlane.py, comm_lane.ts and the compiled bindings. direct_min 0: never.
inline bool direct_call(int coll, uint64_t bytes, uint64_t direct_min) {
  if (coll == 6) return direct_min && bytes > direct_min;
  return direct_min && bytes >= direct_min && (coll == 1 || coll == 3 || coll == 4);
}
struct Desc;
// The moves of direct call `d` (elements of es bytes) for group rank `rank` (fastlane_direct.cc): from the root's
// (broadcast) or every peer's (allgather) tensor into out; an allreduce folds its slice of every peer's input
// and writes it into every peer's output; a reduce_scatter folds its block of every peer's input into out. Returns 0,
// or the errno of the failed move and the peer in *peer; a fold the kernels refuse (bitwise op on floats) returns 0
// with *st set.
int direct_read(void* base, int rank, const Desc& d, uint64_t es, const void* in, void* out, int* peer, Status* st);
// Whether a direct allgather output of `total` bytes at `out` lies in its owner's arena [arena, arena + bytes):
// then each block's owner writes it there through its mapping of that arena, else the output's owner reads them.
inline bool allgather_pushed(uint64_t arena, uint64_t bytes, uint64_t out, uint64_t total) {
  return bytes && out >= arena && out + total <= arena + bytes;
}
// Where a direct broadcast of nbytes among P ranks is cut: receivers read [0, cut), the root writes [cut, nbytes).
inline uint64_t direct_cut(uint32_t P, uint64_t nbytes) { return P < 2 ? nbytes : nbytes / P * (P - 1) & ~63ull; }
// Group rank r's slice [*lo, *hi) of n elements of es bytes: P near-equal parts, cut at 64-byte lines.
inline void coop_slice(uint32_t P, uint64_t n, uint64_t es, uint32_t r, uint64_t* lo, uint64_t* hi) {
  const uint64_t line = es >= 64 ? 1 : 64 / es;
  const uint64_t part = ((n + P - 1) / P + line - 1) / line * line;
  *lo = std::min<uint64_t>(n, r * part);
  *hi = std::min<uint64_t>(n, *lo + part);
}

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
                size_t msg_len, int* ranks, int max_ranks, int* nranks, int flags = 0);
// The same call with its arguments in one struct (python/opennetworks/_fastlane_native.py packs it
// with struct.pack_into: ctypes converts 19 separate arguments in ~7 µs, one pointer in ~0.5 µs).
struct onet_fl_call_t {
  void* base;
  int32_t rank, coll;
  uint64_t seq;
  int32_t dtype, redop, root, flags;  // flags: kDirect
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
// Lets peers read this process's memory where Yama's ptrace_scope is 1 (PR_SET_PTRACER_ANY) and says whether
// direct calls can work here: 1 yes, 0 no (ptrace_scope 2 or 3, or process_vm_readv refused by seccomp).
int onet_fl_direct_ok();
// fastlane.h direct_call for other languages' tests: 1 when that call is direct.
int onet_fl_direct_call(int coll, uint64_t bytes, uint64_t direct_min);
// The instruction set the reduce kernels use ("avx512", "avx2", "generic").
const char* onet_fl_isa();
}
