#include "engine/cma.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "reduce/reduce.h"

namespace onet::cma {

namespace {

// Per engine thread: one buffer per remote input and one for the result, grown on demand.
struct Scratch {
  std::vector<std::vector<char>> bufs;
  char* get(size_t i, size_t bytes) {
    if (bufs.size() <= i) bufs.resize(i + 1);
    if (bufs[i].size() < bytes) bufs[i].resize(bytes);
    return bufs[i].data();
  }
};
thread_local Scratch scratch;

Status failed(const Remote& r, const char* verb, size_t at, int err) {
  std::string why = strerror(err);
  std::string hint = err == EPERM || err == EACCES
                         ? "; the coordinator may not read other processes here (Yama ptrace_scope, a container's "
                           "seccomp policy): set ONET_CMA_MIN_BYTES=0 to use the copy path"
                     : err == ESRCH ? "; the rank exited"
                                    : "; was the tensor freed before the collective finished?";
  return {Code::kInternal,
          std::string("single-copy ") + verb + " of rank " + std::to_string(r.rank) + " (pid " + std::to_string(r.pid) +
              ") at 0x" +
              [&] {
                char b[32];
                snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(r.addr + at));
                return std::string(b);
              }() +
              " failed: " + why + hint,
          {r.rank}};
}

// Move bytes between local and (r, at); loops over partial transfers.
Status move(const Remote& r, size_t at, char* local, size_t bytes, bool write) {
  size_t done = 0;
  while (done < bytes) {
    iovec l{local + done, bytes - done};
    iovec rv{reinterpret_cast<void*>(r.addr + at + done), bytes - done};
    pid_t pid = pid_t(r.pid);
    ssize_t n = write ? process_vm_writev(pid, &l, 1, &rv, 1, 0) : process_vm_readv(pid, &l, 1, &rv, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed(r, write ? "write" : "read", at + done, n < 0 ? errno : EFAULT);
    done += size_t(n);
  }
  return Status::Ok();
}

// A local pointer to bytes at p: p itself, or scratch buffer i filled from the remote range.
Status source(const Plan& plan, const char* p, size_t bytes, size_t i, const char** out) {
  const Remote* r = plan.remote.find(p);
  if (!r) {
    *out = p;
    return Status::Ok();
  }
  char* buf = scratch.get(i, bytes);
  *out = buf;
  return move(*r, size_t(p - r->fake), buf, bytes, false);
}

// Write bytes from src to destination p (remote or local).
Status sink(const Plan& plan, char* p, const char* src, size_t bytes) {
  const Remote* r = plan.remote.find(p);
  if (!r) {
    if (p != src) memcpy(p, src, bytes);
    return Status::Ok();
  }
  return move(*r, size_t(p - r->fake), const_cast<char*>(src), bytes, true);
}

// Whether process pid maps the shared-memory segment `name` ("/onet-…"): a line of /proc/<pid>/maps
// that ends in /dev/shm<name>, or in that plus " (deleted)" once the coordinator unlinked the name.
// False with *err set when the file cannot be read.
bool maps_segment(pid_t pid, const std::string& name, int* err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", int(pid));
  FILE* f = fopen(path, "re");
  if (!f) {
    *err = errno;
    return false;
  }
  const std::string want = "/dev/shm" + name, gone = want + " (deleted)";
  auto ends_with = [](const std::string& s, const std::string& t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
  };
  char* buf = nullptr;
  size_t cap = 0;
  bool found = false;
  for (ssize_t n; !found && (n = getline(&buf, &cap, f)) > 0;) {  // whole lines, however long the path
    std::string line(buf, size_t(n));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    found = ends_with(line, want) || ends_with(line, gone);
  }
  free(buf);
  fclose(f);
  return found;
}

}  // namespace

Status check_pid(const ProcId& registered, uint32_t claimed, int rank, const std::string& label,
                 const std::string& arena, bool* arena_seen) {
  // Short: a message travels in the slot's 320 bytes (docs/protocol.md §4).
  const std::string r = "rank " + std::to_string(rank);
  const std::string head = label + ": " + r + "'s single-copy post names pid " + std::to_string(claimed) + ", ";
  const char* fix = "; name only the registered process (or set ONET_CMA_MIN_BYTES=0 to copy)";
  if (registered.pid <= 0) return {Code::kInvalid, head + "but " + r + " registered without a pid" + fix, {rank}};
  if (claimed != uint32_t(registered.pid))
    return {Code::kInvalid, head + "but " + r + " registered as pid " + std::to_string(registered.pid) + fix, {rank}};
  // Same pid: is it still the process that registered (not a reuse of its pid)? One /proc read.
  if (!proc_alive(registered))
    return {
        Code::kInvalid, head + "its registered pid, but that process has exited (or the pid was reused)" + fix, {rank}};
  if (*arena_seen) return Status::Ok();
  int err = 0;
  if (!maps_segment(pid_t(claimed), arena, &err))
    return {Code::kInvalid,
            head + "its registered pid, but " +
                (err ? std::string("its /proc maps are unreadable (") + strerror(err) + ")"
                     : "that process does not map the arena " + arena + " (registered with another's pid)") +
                fix,
            {rank}};
  *arena_seen = true;
  return Status::Ok();
}

Status run_chunk(const Plan& plan, const Step& s, size_t begin, size_t end) {
  size_t es = dtype_size(plan.dt), n = end - begin, off = begin * es, bytes = n * es;
  Status st;
  if (s.kind == Step::kCopy) {
    const char* src = s.srcs[0] + off;
    const Remote* r = plan.remote.find(src);
    size_t first = 0;
    if (r) {  // read straight into the first local destination when there is one: one copy
      char* into = nullptr;
      for (; first < s.dsts.size(); first++)
        if (!plan.remote.find(s.dsts[first] + off)) {
          into = s.dsts[first] + off;
          break;
        }
      if (!into) into = scratch.get(0, bytes);
      if (!(st = move(*r, size_t(src - r->fake), into, bytes, false)).ok()) return st;
      src = into;
    }
    for (size_t j = 0; j < s.dsts.size(); j++)
      if (!(st = sink(plan, s.dsts[j] + off, src, bytes)).ok()) return st;
    return Status::Ok();
  }
  const size_t k = s.srcs.size();
  std::vector<const void*> in(k);
  for (size_t j = 0; j < k; j++) {
    const char* p;
    if (!(st = source(plan, s.srcs[j] + off, bytes, j, &p)).ok()) return st;
    in[j] = p;
  }
  // The kernels let the output alias inputs[0] only: reduce into inputs[0]'s scratch when it has
  // one, else into the first destination when that is local, else into a scratch of our own.
  char* out;
  char* d0 = s.dsts[0] + off;
  if (!plan.remote.find(d0)) out = d0;
  else if (plan.remote.find(s.srcs[0] + off)) out = const_cast<char*>(static_cast<const char*>(in[0]));
  else out = scratch.get(k, bytes);
  if (!(st = reduce::reduce(plan.op, plan.dt, out, in.data(), int(k), n, plan.scale, plan.divisor)).ok()) return st;
  for (size_t j = 0; j < s.dsts.size(); j++)
    if (!(st = sink(plan, s.dsts[j] + off, out, bytes)).ok()) return st;
  return Status::Ok();
}

}  // namespace onet::cma
