#include "posebatch/status.h"

#include <c10/util/Exception.h>

#include <exception>
#include <new>

namespace posebatch {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kIOError:
      return "I/O error";
    case StatusCode::kCorrupt:
      return "corrupt input";
    case StatusCode::kModelError:
      return "model error";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code_)) + ": " + message_;
}

Status StatusFromCurrentException(StatusCode fallback) {
  try {
    throw;
  } catch (const Error& e) {
    return e.status();
  } catch (const c10::Error& e) {
    // LibTorch messages carry a C++ backtrace after the first line; keep only the message.
    return Status(fallback, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return Status(fallback, "out of memory");
  } catch (const std::exception& e) {
    return Status(fallback, e.what());
  } catch (...) {
    return Status(fallback, "unknown exception");
  }
}

}  // namespace posebatch
