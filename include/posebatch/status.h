// Error policy for all of posebatch, stated once:
//
//  * Code inside the library reports failure by throwing posebatch::Error, which carries a
//    Status. Messages name the file (and frame, stage) and the problem, so that a user can act.
//  * Entry points that run a whole job (analyze.h's Analyzer and Analyze, frame_predictor.h's
//    FramePredictor, RunPipeline, the CLI commands, the Python package) catch and return a
//    Status; they never let an exception escape into user code. An embedder uses these.
//  * The building blocks under them that the public headers also show (LoadModel, OpenVideo,
//    the Create*Writer factories, LoadBoxes/LoadConditions) are library code: they throw Error.
//  * A worker thread never lets an exception escape: the pipeline catches it, records the
//    first failure (with its stage and frame) in one place, cancels every other stage and
//    reports exactly that one Status to the caller.
//
// Thread-safety: Status and Error are immutable values, safe to share.
// Code: src/common/status.cc.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace posebatch {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad option or command-line value
  kNotFound,         // a file or field that should exist does not
  kIOError,          // reading or writing a file failed
  kCorrupt,          // input exists but cannot be decoded / parsed
  kModelError,       // the model is malformed or produced unexpected outputs
  kCancelled,        // the user interrupted the run (Ctrl-C)
  kInternal,         // a bug: an invariant of posebatch itself was broken
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
  static Status ModelError(std::string m) { return {StatusCode::kModelError, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "<code name>: <message>", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* StatusCodeName(StatusCode code);

// The exception thrown inside the library. what() is Status::ToString().
class Error : public std::runtime_error {
 public:
  explicit Error(Status status) : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Throws Error(status) unless status is OK.
inline void ThrowIfError(const Status& status) {
  if (!status.ok()) throw Error(status);
}

// Converts whatever exception is in flight (inside a catch block) into a Status:
// Error keeps its code; c10/torch and std exceptions become kInternal unless `fallback` says
// otherwise. Call only from within a catch handler.
Status StatusFromCurrentException(StatusCode fallback = StatusCode::kInternal);

}  // namespace posebatch
