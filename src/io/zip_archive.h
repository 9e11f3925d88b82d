// Read-only access to the entries of a zip archive (torch.save files), memory-mapped.
// Every offset and size is checked against the file: malformed archives are errors, never
// out-of-bounds reads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace posebatch {

// Immutable after Open(): safe to read from several threads.
class ZipArchive {
 public:
  // Maps `path` and reads its central directory. Throws Error (kNotFound / kCorrupt).
  static std::shared_ptr<ZipArchive> Open(const std::string& path);
  // Parses an archive held in memory (fuzzing, tests). The bytes are copied.
  static std::shared_ptr<ZipArchive> FromBytes(std::string bytes, const std::string& name);
  ~ZipArchive();
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  struct Entry {
    std::string name;
    uint16_t method = 0;       // 0 stored, 8 deflated
    uint64_t compressed = 0;   // bytes in the archive
    uint64_t size = 0;         // bytes once inflated
    uint64_t data_offset = 0;  // start of the (compressed) data in the file
  };

  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* Find(const std::string& name) const;
  // Stored entries: a view into the mapping (no copy). Deflated entries: inflated into
  // *scratch and viewed from there. Throws Error on corrupt data.
  std::string_view Read(const Entry& entry, std::string* scratch) const;
  // Base of the mapping and its size, for zero-copy tensors that keep the archive alive.
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  ZipArchive() = default;
  void Parse();
  [[noreturn]] void Bad(const std::string& what) const;

  std::string path_;
  std::string owned_;  // FromBytes
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> by_name_;
};

}  // namespace posebatch
