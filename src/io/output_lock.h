// The lock that keeps two processes from writing one video's outputs: `<output base>.lock`,
// held with flock(2) for as long as the video runs. The kernel drops it when the holder dies
// (kill -9, a node's job killed by Slurm), so a stale file never blocks a rerun. flock works
// across machines on NFSv4 and Lustre/GPFS mounts that support it (Linux maps it to POSIX locks
// there). Not thread-safe; one object per held lock.
#pragma once

#include <memory>
#include <string>

namespace posebatch {

class OutputLock {
 public:
  // Takes the lock at `path` without waiting. Returns null when another process holds it, with
  // *holder set to what that process wrote ("host pid N since <time>[, Slurm job J]"). Throws
  // Error (kIOError) when the lock file cannot be created.
  static std::unique_ptr<OutputLock> TryAcquire(const std::string& path, std::string* holder);

  // True when a live process holds the lock at `path` (*holder: its line); false when the file
  // is missing or unlocked. For status reports; takes and drops the lock when it is free.
  static bool IsHeld(const std::string& path, std::string* holder);

  ~OutputLock();  // removes the file, then releases
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  OutputLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// "host pid N since YYYY-mm-dd HH:MM:SS[, Slurm job J_T]": who this process is, for lock files
// and campaign logs.
std::string ProcessIdentity();
std::string HostName();
std::string SlurmJobName();  // "J_T" (array task), "J", or empty outside Slurm

}  // namespace posebatch
