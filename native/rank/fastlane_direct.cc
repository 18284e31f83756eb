// Reads of a direct fast-lane call (native/rank/fastlane.h "Direct calls"): the receiving rank moves each
// byte once, from its peer's own tensor into its output, with process_vm_readv, as MPI's shared-memory path
// does with CMA (docs/performance.md "Large ordinary tensors"). The synchronisation around it is fastlane.cc's.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/types.h"
#include "rank/fastlane.h"
#include "reduce/reduce.h"

namespace onet::fastlane {
namespace {

const Line* peer_line(void* base, int r) {
  return reinterpret_cast<const Line*>(static_cast<char*>(base) + 64 * (1 + r));
}
const Desc* peer_desc(void* base, int r, uint64_t seq) {
  const Head* h = static_cast<const Head*>(base);
  return reinterpret_cast<const Desc*>(static_cast<char*>(base) + head_bytes(h->size) +
                                       (2 * uint64_t(r) + seq % 2) * block_bytes(h->cap));
}

// All of [addr, addr + n) of process `pid` into local (write: from local into the remote range); 0 or errno.
// A short transfer (the kernel stops at a page it cannot fault in) resumes where it stopped; no progress at
// all is EFAULT.
int move(pid_t pid, uint64_t addr, void* local, uint64_t n, bool write) {
  char* d = static_cast<char*>(local);
  while (n) {
    iovec l{d, n}, remote{reinterpret_cast<void*>(addr), n};
    const ssize_t got =
        write ? process_vm_writev(pid, &l, 1, &remote, 1, 0) : process_vm_readv(pid, &l, 1, &remote, 1, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) return EFAULT;
    d += got;
    addr += uint64_t(got);
    n -= uint64_t(got);
  }
  return 0;
}

// python/opennetworks/_cma.py hugepages(): back the 2 MiB-aligned interior of [p, p + n) with huge pages, once
// per range (process_vm_readv/writev pin pages one by one: ~2x the bytes per CPU second on 2 MiB pages).
// ONET_CMA_HUGEPAGES=0 turns it off. A range freed and allocated again keeps its old answer: slower, never wrong.
void hugepages(const void* p, uint64_t n) {
  constexpr uint64_t kHuge = 2ull << 20;
  static const bool on = [] {
    const char* v = std::getenv("ONET_CMA_HUGEPAGES");
    return !(v && (!std::strcmp(v, "0") || !std::strcmp(v, "false") || !std::strcmp(v, "no")));
  }();
  const uint64_t lo = (reinterpret_cast<uint64_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uint64_t hi = (reinterpret_cast<uint64_t>(p) + n) & ~(kHuge - 1);
  if (!on || !p || hi < lo + kHuge) return;
  static std::mutex mu;
  static std::set<std::pair<uint64_t, uint64_t>> settled;
  {
    std::lock_guard<std::mutex> hold(mu);
    if (settled.size() > 4096) settled.clear();
    if (!settled.insert({lo, hi}).second) return;
  }
  if (madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) == 0)
    madvise(reinterpret_cast<void*>(lo), hi - lo, 25);  // MADV_COLLAPSE (Linux 6.1+; EINVAL before: left as is)
}

// Peer r's bytes [addr, addr + n) as a pointer into this process's own mapping of r's arena, or nullptr when
// they are not inside it (or it cannot be mapped: then process_vm_readv/writev moves them). Mappings are
// kept for the life of the process, one per (arena name, owner pid): a later job's arena of the same name
// belongs to another pid.
char* arena_view(void* base, int r, uint64_t addr, uint64_t n) {
  const uint32_t P = static_cast<const Head*>(base)->size;
  const auto* a = reinterpret_cast<const ArenaEntry*>(static_cast<char*>(base) + arena_entry_offset(P, uint32_t(r)));
  if (!a->bytes || addr < a->base || addr + n > a->base + a->bytes || !a->name[0] || a->name[111]) return nullptr;
  const std::string key = std::string(a->name) + "@" + std::to_string(peer_line(base, r)->pid);
  static std::mutex mu;
  static std::map<std::string, char*> maps;
  std::lock_guard<std::mutex> hold(mu);
  auto it = maps.find(key);
  if (it == maps.end()) {
    char* m = nullptr;
    const bool proc = std::strncmp(a->name, "/proc/", 6) == 0;
    const std::string path = proc ? std::string(a->name) : std::string("/dev/shm/") + (a->name + (a->name[0] == '/'));
    const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st {};
    if (fd >= 0 && fstat(fd, &st) == 0 && uint64_t(st.st_size) >= a->bytes) {
      void* p = mmap(nullptr, a->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) m = static_cast<char*>(p);
    }
    if (fd >= 0) close(fd);
    if (maps.size() < 256) it = maps.emplace(key, m).first;  // nullptr too: not tried again
    else return m ? m + (addr - a->base) : nullptr;
  }
  return it->second ? it->second + (addr - a->base) : nullptr;
}

// Peer r's [addr, addr + n) into local (write: local into it): memcpy through its arena, else CMA.
int copy_with(void* base, int r, uint64_t addr, void* local, uint64_t n, bool write) {
  if (char* v = arena_view(base, r, addr, n)) {
    if (write) std::memcpy(v, local, n);
    else std::memcpy(local, v, n);
    return 0;
  }
  return move(pid_t(peer_line(base, r)->pid), addr, local, n, write);
}

// fastlane.h allgather_pushed: whether group rank q's allgather output lies in q's arena, so that the owner of each
// block writes it there (every rank reads the same ArenaEntry and Desc, so all decide alike).
bool pushed_to(void* base, int q, uint64_t seq, uint64_t nbytes) {
  const Head* h = static_cast<const Head*>(base);
  const auto* a =
      reinterpret_cast<const ArenaEntry*>(static_cast<const char*>(base) + arena_entry_offset(h->size, uint32_t(q)));
  return allgather_pushed(a->base, a->bytes, peer_desc(base, q, seq)->out, nbytes * h->size);
}

// This thread's scratch of at least n bytes (64-byte aligned), kept between calls.
char* scratch(uint64_t n) {
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<char, Free> buf;
  thread_local uint64_t have = 0;
  if (have < n) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, n)) return nullptr;
    buf.reset(static_cast<char*>(p));
    have = n;
  }
  return buf.get();
}

// allreduce (fastlane.h "Direct calls"): group rank `rank` folds its slice (coop_slice) of every rank's input in
// group-rank order, as fold() does, into its own output, and writes the folded slice into every peer's output.
// reduce_scatter (`scatter`): it folds block `rank` of every rank's input into its output and writes nothing.
// It goes in pieces small enough to stay in cache: each peer's piece is read into scratch (or used in place when
// it lies in that peer's arena), folded, and written out while still in cache.
int direct_fold(void* base, int rank, const Desc& d, uint64_t es, const void* in, void* out, int* peer, Status* st,
                bool scatter) {
  const uint32_t P = static_cast<const Head*>(base)->size;
  uint64_t lo = 0, hi = d.count;
  if (!scatter) coop_slice(P, d.count, es, uint32_t(rank), &lo, &hi);
  const uint64_t from = scatter ? uint64_t(rank) * d.count * es : 0;  // where this rank's part of an input starts
  hugepages(in, d.count * es * (scatter ? P : 1));
  if (out != in) hugepages(out, d.count * es);
  const uint64_t piece = std::clamp<uint64_t>((384ull << 10) / P & ~4095ull, 32ull << 10, 128ull << 10);
  char* s = scratch(uint64_t(P) * piece);
  if (!s) return ENOMEM;
  std::vector<const void*> srcs(P);
  const char* I = static_cast<const char*>(in);
  char* O = static_cast<char*>(out);
  for (uint64_t a = lo * es; a < hi * es; a += piece) {
    const uint64_t len = std::min(piece, hi * es - a);
    for (uint32_t i = 1; i < P; i++) {
      const int r = int((uint32_t(rank) + i) % P);
      const uint64_t src = peer_desc(base, r, d.seq)->addr + from + a;
      if (const char* v = arena_view(base, r, src, len)) {
        srcs[r] = v;
        continue;
      }
      *peer = r;
      if (const int e = move(pid_t(peer_line(base, r)->pid), src, s + uint64_t(r) * piece, len, false)) return e;
      srcs[r] = s + uint64_t(r) * piece;
    }
    const char* own = I + from + a;
    srcs[rank] = own;
    // reduce() lets its output alias only its first input: an in-place call on any other rank folds a copy.
    if (rank != 0 && O + a < own + len && own < O + a + len) {
      std::memcpy(s + uint64_t(rank) * piece, own, len);
      srcs[rank] = s + uint64_t(rank) * piece;
    }
    *st = reduce::reduce(RedOp(d.redop), DType(d.dtype), O + a, srcs.data(), int(P), len / es, d.scale, int(P));
    if (!st->ok()) return 0;
    for (uint32_t i = 1; i < P && !scatter; i++) {
      const int r = int((uint32_t(rank) + i) % P);
      *peer = r;
      if (const int e = copy_with(base, r, peer_desc(base, r, d.seq)->out + a, O + a, len, true)) return e;
    }
  }
  return 0;
}

}  // namespace

int direct_read(void* base, int rank, const Desc& d, uint64_t es, const void* in, void* out, int* peer, Status* st) {
  const int P = int(static_cast<const Head*>(base)->size);
  const uint64_t nbytes = d.count * es, seq = d.seq;
  const int root = int(d.root);
  char* o = static_cast<char*>(out);
  const Coll coll = Coll(d.coll);
  if (coll == Coll::allreduce || coll == Coll::reduce_scatter)
    return direct_fold(base, rank, d, es, in, out, peer, st, coll == Coll::reduce_scatter);
  if (coll == Coll::broadcast) {  // receivers read the head of the root's tensor, the root writes the tail of theirs
    const uint64_t cut = direct_cut(uint32_t(P), nbytes);
    if (rank == root) {
      hugepages(in, nbytes);
      if (out != in && nbytes) std::memmove(out, in, nbytes);
      for (int i = 1; i < P && cut < nbytes; i++) {
        const int r = (rank + i) % P;
        *peer = r;
        const char* src = static_cast<const char*>(in) + cut;
        const int e =
            copy_with(base, r, peer_desc(base, r, seq)->out + cut, const_cast<char*>(src), nbytes - cut, true);
        if (e) return e;
      }
      return 0;
    }
    hugepages(out, nbytes);
    *peer = root;
    return copy_with(base, root, peer_desc(base, root, seq)->addr, out, cut, false);
  }
  // allgather: the own block into the own output; then every block of a peer whose output lies in its arena is
  // pushed there by the block's owner, piece by piece, through the mapping (each piece read from memory once and
  // written to every such peer from cache; pulling would read every input P - 1 times), and every other output
  // pulls its blocks (process_vm_readv moves ordinary tensors faster into the caller than out of it).
  hugepages(in, nbytes);
  hugepages(out, nbytes * uint64_t(P));
  if (o + uint64_t(rank) * nbytes != in && nbytes) std::memmove(o + uint64_t(rank) * nbytes, in, nbytes);
  std::vector<int> to;  // peers to push to, in turn after this rank so that writers spread out
  for (int i = 1; i < P; i++)
    if (pushed_to(base, (rank + i) % P, seq, nbytes)) to.push_back((rank + i) % P);
  char* I = const_cast<char*>(static_cast<const char*>(in));
  for (uint64_t a = 0; a < nbytes && !to.empty(); a += kPushPiece) {
    const uint64_t len = std::min(kPushPiece, nbytes - a);
    for (const int r : to) {
      *peer = r;
      const int e = copy_with(base, r, peer_desc(base, r, seq)->out + uint64_t(rank) * nbytes + a, I + a, len, true);
      if (e) return e;
    }
  }
  for (int i = 1; i < P && !pushed_to(base, rank, seq, nbytes); i++) {
    const int r = (rank + i) % P;
    *peer = r;
    const int e = copy_with(base, r, peer_desc(base, r, seq)->addr, o + uint64_t(r) * nbytes, nbytes, false);
    if (e) return e;
  }
  return 0;
}

}  // namespace onet::fastlane

// Yama (ptrace_scope 1) lets only an ancestor read a process unless it names a tracer; ANY lets the peers, which
// are siblings. Scope 2 needs CAP_SYS_PTRACE and 3 forbids it: no direct calls. A read of this process's own
// memory answers whether seccomp allows the call at all.
extern "C" int onet_fl_direct_ok() {
  int scope = 0;
  if (FILE* f = std::fopen("/proc/sys/kernel/yama/ptrace_scope", "r")) {
    if (std::fscanf(f, "%d", &scope) != 1) scope = 0;
    std::fclose(f);
  }
  if (scope >= 2) return 0;
  if (scope == 1) prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
  static const uint64_t probe = 0x4F4E4554;
  uint64_t got = 0;
  iovec local{&got, sizeof got}, remote{const_cast<uint64_t*>(&probe), sizeof probe};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == ssize_t(sizeof got) && got == probe ? 1 : 0;
}
