// A whole small file in memory, read once straight into place (pickles, before parsing).
// Throws Error: kNotFound naming the file and `what` when it cannot be opened, kIOError when it
// cannot be read.
#pragma once

#include <fstream>
#include <string>

#include "posebatch/status.h"

namespace posebatch {

inline std::string ReadFileBytes(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(Status::NotFound(path + ": cannot open " + what));
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    throw Error(Status::IOError(path + ": cannot read the file"));
  }
  return bytes;
}

}  // namespace posebatch
