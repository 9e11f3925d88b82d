#include "io/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "posebatch/status.h"

namespace posebatch {
namespace {

std::string ReadAll(int fd) {
  std::string text;
  char buf[512];
  ssize_t n;
  if (lseek(fd, 0, SEEK_SET) < 0) return text;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// The file at `path` is still the inode `fd` has open (not removed and recreated by a holder
// that finished between our open() and flock()).
bool SameFile(int fd, const std::string& path) {
  struct stat a {
  }, b{};
  return fstat(fd, &a) == 0 && stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

std::string HostName() {
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  return host;
}

std::string SlurmJobName() {
  const char* job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  const char* plain = std::getenv("SLURM_JOB_ID");
  if (job != nullptr && task != nullptr) return std::string(job) + "_" + task;
  return plain != nullptr ? plain : "";
}

std::string ProcessIdentity() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  std::string id = HostName() + " pid " + std::to_string(getpid()) + " since " + when;
  const std::string job = SlurmJobName();
  if (!job.empty()) id += ", Slurm job " + job;
  return id;
}

std::unique_ptr<OutputLock> OutputLock::TryAcquire(const std::string& path, std::string* holder) {
  int busy = 0;
  for (int attempt = 0; attempt < 12; ++attempt) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw Error(Status::IOError(path + ": cannot create the lock file (" + std::strerror(errno) +
                                  "): the output folder must be writable"));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (holder != nullptr) *holder = ReadAll(fd);
      close(fd);
      if (err != EWOULDBLOCK) throw Error(Status::IOError(path + ": cannot lock (" + std::strerror(err) + ")"));
      // IsHeld (a status report) holds it for microseconds: only a lock seen thrice is busy.
      if (++busy == 3) return nullptr;
      usleep(50 * 1000);
      continue;
    }
    if (!SameFile(fd, path)) {  // the previous holder removed it after our open(): try the new one
      close(fd);
      continue;
    }
    const std::string me = ProcessIdentity() + "\n";
    if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      // The lock holds without the line; only reports lose the holder's name.
    }
    return std::unique_ptr<OutputLock>(new OutputLock(path, fd));
  }
  throw Error(Status::IOError(path + ": lock file keeps being replaced"));
}

bool OutputLock::IsHeld(const std::string& path, std::string* holder) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (held && holder != nullptr) *holder = ReadAll(fd);
  close(fd);
  return held;
}

OutputLock::~OutputLock() {
  unlink(path_.c_str());
  close(fd_);
}

}  // namespace posebatch
