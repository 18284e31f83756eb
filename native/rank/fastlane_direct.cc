// Reads of a direct fast-lane call (native/rank/fastlane.h "Direct calls"): the receiving rank moves each
// byte once, from its peer's own tensor into its output, with process_vm_readv, as MPI's shared-memory path
// does with CMA (docs/performance.md "Large ordinary tensors"). The synchronisation around it is fastlane.cc's.
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "rank/fastlane.h"

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

// All of [addr, addr + n) of process `pid` into dst; 0 or errno. A short read (the kernel stops at a page
// it cannot fault in) resumes where it stopped; no progress at all is EFAULT.
int read_from(pid_t pid, uint64_t addr, void* dst, uint64_t n) {
  char* d = static_cast<char*>(dst);
  while (n) {
    iovec local{d, n}, remote{reinterpret_cast<void*>(addr), n};
    const ssize_t got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
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

}  // namespace

int direct_read(void* base, int rank, int coll, int root, uint64_t nbytes, const void* in, void* out, uint64_t seq,
                int* peer) {
  const int P = int(static_cast<const Head*>(base)->size);
  char* o = static_cast<char*>(out);
  if (coll == 3) {  // broadcast: the root copies its own tensor, every other rank reads the root's
    if (rank == root) {
      if (out != in && nbytes) std::memmove(out, in, nbytes);
      return 0;
    }
    *peer = root;
    return read_from(pid_t(peer_line(base, root)->pid), peer_desc(base, root, seq)->addr, out, nbytes);
  }
  // allgather: own part first, then every peer's, starting after this rank so that readers spread out
  if (o + uint64_t(rank) * nbytes != in && nbytes) std::memmove(o + uint64_t(rank) * nbytes, in, nbytes);
  for (int i = 1; i < P; i++) {
    const int r = (rank + i) % P;
    *peer = r;
    const int e =
        read_from(pid_t(peer_line(base, r)->pid), peer_desc(base, r, seq)->addr, o + uint64_t(r) * nbytes, nbytes);
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
