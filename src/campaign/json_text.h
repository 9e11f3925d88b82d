// Writing JSON text by hand (campaign files, --progress json): a string escaper and a one-object
// builder. Reading goes through yaml-cpp (JSON is YAML). Free functions: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace posebatch {

// `text` as a JSON string literal, quotes included.
std::string JsonString(const std::string& text);

// {"key": value, ...} built field by field, in order.
class JsonObject {
 public:
  JsonObject& Add(const std::string& key, const std::string& value);
  JsonObject& Add(const std::string& key, const char* value) { return Add(key, std::string(value)); }
  JsonObject& Add(const std::string& key, int64_t value);
  JsonObject& Add(const std::string& key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonObject& Add(const std::string& key, size_t value) { return Add(key, static_cast<int64_t>(value)); }
  JsonObject& Add(const std::string& key, double value);             // 6 significant digits; NaN/inf: null
  JsonObject& AddTime(const std::string& key, double unix_seconds);  // to the millisecond
  JsonObject& Add(const std::string& key, bool value);
  JsonObject& Add(const std::string& key, const std::vector<std::string>& values);
  JsonObject& Add(const std::string& key, const std::vector<int>& values);
  JsonObject& AddRaw(const std::string& key, const std::string& json);  // already JSON text
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void Key(const std::string& key);
  std::string body_;
};

// Writes `text` to `path` through a temporary file and a rename: readers see the old or the
// new file, never a part. Throws Error naming the file.
void WriteFileAtomically(const std::string& path, const std::string& text);

// Seconds since the Unix epoch.
double UnixSeconds();

}  // namespace posebatch
