#include "shm/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/proc_alive.h"

namespace onet::shm {

Segment::~Segment() {
  if (base_) munmap(base_, size_);
  if (linked_) shm_unlink(name_.c_str());
}

Status Segment::create(const std::string& name, size_t bytes, Segment* out) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  if (fd < 0) return {Code::kInternal, "shm_open(" + name + "): " + strerror(errno)};
  fchmod(fd, 0600);  // umask may have narrowed it; never widen
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    int e = errno;
    close(fd);
    shm_unlink(name.c_str());
    return {Code::kInternal, "ftruncate(" + name + ", " + std::to_string(bytes) + "): " + strerror(e) +
                                 " — /dev/shm too small? lower ONET_ARENA_BYTES"};
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(name.c_str());
    return {Code::kInternal, "mmap(" + name + "): " + strerror(errno)};
  }
  out->name_ = name;
  out->base_ = p;
  out->size_ = bytes;
  out->linked_ = true;
  return Status::Ok();
}

Status Segment::open(const std::string& name, Segment* out) {
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) return {Code::kInvalid, "shm_open(" + name + "): " + strerror(errno)};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return {Code::kInternal, "fstat(" + name + "): " + strerror(errno)};
  }
  void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return {Code::kInternal, "mmap(" + name + "): " + strerror(errno)};
  out->name_ = name;
  out->base_ = p;
  out->size_ = st.st_size;
  out->linked_ = false;
  return Status::Ok();
}

void Segment::unlink() {
  if (linked_) shm_unlink(name_.c_str());
  linked_ = false;
}

// Names look like onet-<job>-<pid>-r<rank> or onet-<job>-<pid>-ctl; the job id may itself
// contain '-', so the pid is the second-to-last dash-separated field.
int clean_stale(const std::string& only_job) {
  DIR* d = opendir("/dev/shm");
  if (!d) return 0;
  int removed = 0;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("onet-", 0) != 0) continue;
    size_t last = n.rfind('-');
    if (last == std::string::npos || last < 6) continue;
    size_t prev = n.rfind('-', last - 1);
    if (prev == std::string::npos || prev < 5) continue;
    std::string job = n.substr(5, prev - 5);
    if (!only_job.empty() && job != only_job) continue;
    long pid = strtol(n.c_str() + prev + 1, nullptr, 10);
    if (pid <= 0) continue;
    // The owner is alive when its pid runs, is not a zombie, and did not start after the
    // segment was made (a later process that reused the pid is not its owner).
    struct stat sb;
    if (proc_alive({pid_t(pid), 0}) &&
        (stat(("/dev/shm/" + n).c_str(), &sb) != 0 || proc_started_at(pid_t(pid)) <= double(sb.st_ctime) + 1))
      continue;
    if (shm_unlink(("/" + n).c_str()) == 0) removed++;
  }
  closedir(d);
  return removed;
}

}  // namespace onet::shm
