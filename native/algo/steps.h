// The small vocabulary every algorithm in native/algo/ is written in (NCCL style): post a
// receive, post a send, wait with the comm's deadline, reduce two buffers, plus the three
// shared schedules (ring pipeline, tree pipeline, fold + recursive halving/doubling).
// Internal to native/algo/; the engine includes algo.h only.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "algo/algo.h"

namespace onet::algo::detail {

using Req = std::unique_ptr<net::Request>;

// Scratch memory for receives and packed copies. Freed only after finish(ok): when a
// collective fails, a backend may still complete an abandoned receive into it later (tcp
// keeps pending requests until the link closes), so a failed call leaks it instead.
class Scratch {
 public:
  explicit Scratch(size_t bytes = 0) { resize(bytes); }
  ~Scratch() {
    if (!keep_) delete[] p_;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void resize(size_t bytes) {
    if (bytes == 0) return;
    if (!keep_) delete[] p_;
    p_ = new char[bytes];
    keep_ = true;
  }
  char* data() { return p_; }
  Status finish(Status s) {
    if (s.ok()) keep_ = false;
    return s;
  }

 private:
  char* p_ = nullptr;
  bool keep_ = false;  // true from allocation until finish(ok)
};

struct Block {
  size_t off = 0;  // elements from the buffer start
  size_t n = 0;    // elements
};

// Prefixes a failure with where it happened: "ring allreduce step 3: <transport message>".
Status at(const std::string& where, Status s);
// Waits for every request; the first failure wins (the rest are cancelled on destruction).
Status wait_all(net::Comm& c, std::vector<Req>& reqs);
// Posts the receive, then the send, then waits for both. Zero-byte messages are still sent
// (they carry the synchronisation and let a size disagreement surface as kMismatch).
Status sendrecv(net::Comm& c, int to, const void* sbuf, size_t sbytes, int from, void* rbuf, size_t rbytes,
                uint64_t tag);
// inout[i] = inout[i] ∘ other[i] for n elements.
Status reduce2(RedOp op, DType dt, void* inout, const void* other, size_t n);
// `count` elements in `parts` near-equal contiguous blocks (the first count % parts get one more).
std::vector<Block> split(size_t count, int parts);
inline int mod(long a, int p) { return int(((a % p) + p) % p); }

// ---- ring pipeline (ring.cc) ---------------------------------------------------------
// Step s sends block (rank - s - shift) to the right neighbour and receives block
// (rank - s - 1 - shift) from the left, reducing it in for s < reduce_steps and storing it
// in place after. Blocks are cut into chunk_bytes chunks; `inflight` receives stay posted
// ahead and chunk k of step s+1 leaves as soon as chunk k of step s arrived, so steps overlap.
struct Ring {
  std::string what;  // "ring allreduce"
  char* buf = nullptr;
  DType dt = DType::u8;
  RedOp op = RedOp::sum;
  std::vector<Block> blocks;  // one per participant
  int shift = 0, steps = 0, reduce_steps = 0;
  uint64_t tag = 0;
};
Status ring_run(net::Comm& c, const Ring& r, const Options& o);

// ---- tree pipeline (tree.cc) ---------------------------------------------------------
// A rooted spanning tree given by every participant's parent (-1 at the root).
struct Tree {
  std::vector<int> parent;
  size_t off = 0, n = 0;  // elements this tree carries
  uint64_t tag_up = 0, tag_down = 0;
};
// Chunked reduce (children → root, in place) and/or broadcast (root → leaves) over one or
// more trees at once. Each rank processes its chunk events in a global "time" order
// (reduce of chunk k at height h: k + h; broadcast at depth d: k + H + 1 + d), in which every
// event waits only on messages sent at strictly earlier times, so blocking waits in that
// order cannot deadlock while both trees and all chunks stay in flight.
struct TreeJob {
  std::string what;
  char* buf = nullptr;
  DType dt = DType::u8;
  RedOp op = RedOp::sum;
  bool reduce = false, bcast = false;
  std::vector<Tree> trees;
};
Status tree_run(net::Comm& c, const TreeJob& j, const Options& o);
std::vector<int> binomial_parents(int size, int root);
std::vector<int> chain_parents(int size, int root);
// NCCL's double binary tree: tree 1 is tree 0 shifted (odd P) or mirrored (even P), so most
// ranks are interior in one tree and a leaf in the other.
std::vector<int> btree_parents(int size, int which);

// ---- fold + recursive halving / doubling (halving.cc) --------------------------------
// Non-power-of-two worlds: the first 2·rem ranks pair up (even → odd) so pof2 "new ranks"
// remain; new rank i stands for old ranks {2i, 2i+1} when i < rem, else {i + rem}.
struct Fold {
  int pof2 = 1, rem = 0;
  int newrank(int r) const { return r < 2 * rem ? (r % 2 ? r / 2 : -1) : r - rem; }
  int oldrank(int nr) const { return nr < rem ? 2 * nr + 1 : nr + rem; }
  int first_block(int nr) const { return nr < rem ? 2 * nr : nr + rem; }  // of the P blocks
};
Fold make_fold(int size);
// Recursive halving among new ranks: `bounds` (pof2 + 1 element offsets) delimits each new
// rank's final range; afterwards new rank nr holds range nr reduced over all pof2 members.
// tmp holds at least half the elements. Tags tag .. tag + log2(pof2) - 1.
Status halving(net::Comm& c, const Fold& f, int nr, char* buf, char* tmp, const std::vector<size_t>& bounds, DType dt,
               RedOp op, uint64_t tag, const std::string& what);
// Recursive doubling: new rank nr starts with range nr and ends with all of them.
Status doubling(net::Comm& c, const Fold& f, int nr, char* buf, const std::vector<size_t>& bounds, size_t esize,
                uint64_t tag, const std::string& what);

}  // namespace onet::algo::detail
