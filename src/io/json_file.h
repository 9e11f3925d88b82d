// Reading a small JSON (or YAML) input file whole, with errors that name the file: what the
// boxes and conditions readers share. Free functions: safe from any thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "posebatch/status.h"

namespace posebatch {

// The parsed document. Throws Error: kNotFound "<path>: cannot open <what> file", or
// kInvalidArgument "<path>: not valid <format> (<parser's message>)".
inline YAML::Node LoadJsonFile(const std::string& path, const std::string& what, const std::string& format) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw Error(Status::NotFound(path + ": cannot open " + what + " file"));
  } catch (const YAML::Exception& e) {
    throw Error(Status::InvalidArgument(path + ": not valid " + format + " (" + e.what() + ")"));
  }
}

}  // namespace posebatch
