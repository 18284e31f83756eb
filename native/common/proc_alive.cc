#include "common/proc_alive.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace onet {

namespace {

// State letter and start time from /proc/<pid>/stat; false when unreadable. The command name
// (field 2) may contain spaces and ')', so parsing starts after the last ')'.
bool read_stat(pid_t pid, char* state, uint64_t* start) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  FILE* f = std::fopen(path, "re");
  if (!f) return false;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  p += 2;  // field 3 (state)
  *state = *p;
  // Fields 4..21 to skip, then 22 (starttime).
  for (int field = 3; field < 22; field++) {
    p = std::strchr(p, ' ');
    if (!p) return false;
    p++;
  }
  *start = std::strtoull(p, nullptr, 10);
  return true;
}

bool exists(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

}  // namespace

ProcId proc_identify(pid_t pid) {
  ProcId id{pid, 0};
  char state = 0;
  uint64_t start = 0;
  if (pid > 0 && read_stat(pid, &state, &start) && state != 'Z' && state != 'X') id.start = start;
  return id;
}

bool proc_alive(const ProcId& id) {
  if (id.pid <= 0) return false;
  char state = 0;
  uint64_t start = 0;
  if (!read_stat(id.pid, &state, &start)) return exists(id.pid);  // no /proc: existence only
  if (state == 'Z' || state == 'X') return false;
  return id.start == 0 || start == id.start;
}

double proc_started_at(pid_t pid) {
  char state = 0;
  uint64_t start = 0;
  if (pid <= 0 || !read_stat(pid, &state, &start)) return 0;
  FILE* f = std::fopen("/proc/stat", "re");
  if (!f) return 0;
  char line[256];
  double btime = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, "btime ", 6) == 0) btime = std::strtod(line + 6, nullptr);
  std::fclose(f);
  long hz = sysconf(_SC_CLK_TCK);
  return btime > 0 && hz > 0 ? btime + double(start) / double(hz) : 0;
}

}  // namespace onet
