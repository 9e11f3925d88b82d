// libFuzzer target: arbitrary bytes opened as a video through OpenVideo (FFmpeg probing,
// demuxing, decoding, RGB conversion) and decoded to the end. The bytes live in a memfd, so
// FFmpeg reads them through its ordinary file protocol without touching the disk.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "posebatch/frame_source.h"
#include "posebatch/status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace posebatch;
  const int fd = memfd_create("fuzz_video", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < size) {
    const ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  try {
    auto source = OpenVideo("/proc/self/fd/" + std::to_string(fd), DecodeOptions{});
    Frame frame;
    // To the end (bounded only so that a tiny input cannot loop for minutes).
    for (int i = 0; i < 10000 && source->Next(&frame); ++i) {
    }
  } catch (const Error&) {
  }
  close(fd);
  return 0;
}
