// Who a single-copy post may name (native/engine/cma.h check_pid): the process that registered as the
// rank, only while it is that process, and only if it maps the rank's arena. The forged-pid case end to
// end is python/tests/test_cma_forge.py; here the cases a real job cannot stage: a registration without a
// pid, a pid whose process exited (a reaped child), a pid reused by a later process (same pid, another
// start time), and a registered pid that does not map the arena (a register message with a borrowed pid).
// Exit status is non-zero when any CHECK failed.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "engine/cma.h"
#include "shm/segment.h"
#include "tests/check.h"

using namespace onet;

namespace {
bool has(const Status& st, const std::string& s) { return st.msg.find(s) != std::string::npos; }

bool refused(const Status& st, int rank) {
  return st.code == Code::kInvalid && st.ranks == std::vector<int>{rank} && has(st, "rank " + std::to_string(rank)) &&
         has(st, "ONET_CMA_MIN_BYTES=0") && st.msg.size() < 300;  // fits the slot's 320 bytes
}
}  // namespace

Status check(const ProcId& reg, uint32_t claimed, int rank, const char* label, const std::string& arena) {
  bool seen = false;
  Status st = cma::check_pid(reg, claimed, rank, label, arena, &seen);
  CHECK(seen == st.ok());  // set exactly when the post is let through
  return st;
}

int main() {
  const pid_t me = getpid();
  const ProcId self = proc_identify(me);
  CHECK(self.start != 0);  // /proc is readable here
  const std::string arena = "/onet-cmatest-" + std::to_string(me) + "-r3";
  shm::Segment seg;
  CHECK(shm::Segment::create(arena, 4096, &seg).ok());
  CHECK(check(self, uint32_t(me), 3, "allreduce #7", arena).ok());
  bool seen = true;  // once seen, the maps are not read again
  CHECK(cma::check_pid(self, uint32_t(me), 3, "allreduce #7", "/onet-not-mapped", &seen).ok());

  // The registered, running pid, but not mapping the rank's arena: the register message named a
  // process that is not the rank (here: an arena name nobody maps; "-r3" must not match "-r30").
  Status st = check(self, uint32_t(me), 3, "allreduce #7", arena.substr(0, arena.size() - 1));
  CHECK(refused(st, 3) && has(st, "does not map the arena"));
  st = check(self, uint32_t(me), 3, "allreduce #7", arena + "0");
  CHECK(refused(st, 3) && has(st, "does not map"));
  seg.unlink();  // the coordinator unlinks the name once the rank mapped it: "(deleted)" in the maps
  CHECK(check(self, uint32_t(me), 3, "allreduce #7", arena).ok());

  // Another live process (our parent): refused, naming both pids.
  st = check(self, uint32_t(getppid()), 3, "allreduce #7", arena);
  CHECK(refused(st, 3));
  CHECK(has(st, "allreduce #7: rank 3's single-copy post") && st.msg.size() < 320);
  CHECK(has(st, "names pid " + std::to_string(getppid())) && has(st, "registered as pid " + std::to_string(me)));

  // Registered without a pid (an old client): no single copy at all.
  st = check(ProcId{0, 0}, uint32_t(me), 0, "broadcast #1", arena);
  CHECK(refused(st, 0) && has(st, "without a pid"));

  // The same pid, another start time: a later process that reused the registered pid.
  st = check(ProcId{me, self.start + 1}, uint32_t(me), 1, "broadcast #2", arena);
  CHECK(refused(st, 1) && has(st, "exited"));

  // The registered process exited and was reaped.
  pid_t child = fork();
  if (child == 0) _exit(0);
  ProcId kid{child, 0};
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  st = check(kid, uint32_t(child), 2, "gather #3", arena);
  CHECK(refused(st, 2) && has(st, "exited"));

  return onet::test::check_summary("cma_test");
}
