// The resume journal (format in resume_journal.h): a reader that trusts only intact chunks and
// a PoseWriter that appends fdatasync'ed chunks.
#include "io/resume_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "posebatch/status.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the resume journal stores numbers in the host's byte order; it assumes little-endian"
#endif

namespace posebatch {
namespace {

constexpr char kMagic[] = "posebatch-resume-journal 1\n";
constexpr size_t kMagicLen = sizeof(kMagic) - 1;
constexpr uint32_t kChunkMagic = 0x4b434250;    // "PBCK" read as little-endian u32
constexpr uint32_t kMaxHeaderBytes = 1u << 20;  // a sane bound against garbage lengths
constexpr size_t kChunkHead = 4 + 4 + 8;        // magic, rows, first frame

uint32_t Crc(const void* data, size_t n, uint32_t crc = 0) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

template <typename T>
void PutRaw(std::vector<uint8_t>* out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out->insert(out->end(), p, p + sizeof v);
}

template <typename T>
T GetRaw(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::string HeaderText(const JournalHeader& header) {
  std::string text;
  for (const auto& [key, value] : header) {
    if (key.find_first_of("=\n") != std::string::npos || value.find('\n') != std::string::npos) {
      throw Error(Status::Internal("resume journal header field '" + key + "' holds '=' or a newline"));
    }
    text += key + "=" + value + "\n";
  }
  return text;
}

JournalHeader ParseHeaderText(const std::string& text) {
  JournalHeader header;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    size_t eq = line.find('=');
    if (eq != std::string::npos) header.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    pos = end + 1;
  }
  return header;
}

// Reads exactly n bytes; false at a short read (end of file).
bool ReadExactly(std::FILE* f, void* buf, size_t n) { return std::fread(buf, 1, n, f) == n; }

void WriteAll(int fd, const uint8_t* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      throw Error(
          Status::IOError(path + ": cannot write the resume journal (" + std::strerror(errno) + "; disk full?)"));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void SyncData(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) {
    throw Error(Status::IOError(path + ": cannot sync the resume journal (" + std::strerror(errno) + ")"));
  }
}

class JournalWriter : public PoseWriter {
 public:
  JournalWriter(const std::string& path, const JournalHeader& header, size_t ncols, int64_t chunk_rows, bool with_boxes,
                const JournalContents* resume)
      : path_(path), ncols_(ncols), chunk_rows_(chunk_rows), with_boxes_(with_boxes) {
    if (chunk_rows_ < 1) throw Error(Status::InvalidArgument(path + ": journal chunks need >= 1 row"));
    if (resume != nullptr) {
      fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(resume->valid_bytes)) != 0 || ::lseek(fd_, 0, SEEK_END) < 0) {
        Close();
        throw Error(Status::IOError(path + ": cannot reopen the resume journal (" + std::strerror(errno) + ")"));
      }
      chunks_ = resume->chunks;
      next_frame_ = resume->frames.empty() ? -1 : resume->frames.back() + 1;
      SyncData(fd_, path_);  // the cut-off tail stays cut off
    } else {
      fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd_ < 0) {
        throw Error(Status::IOError(path + ": cannot create the resume journal (" + std::strerror(errno) +
                                    "; is the folder writable?)"));
      }
      std::string text = HeaderText(header);
      std::vector<uint8_t> bytes(kMagic, kMagic + kMagicLen);
      PutRaw(&bytes, static_cast<uint32_t>(text.size()));
      bytes.insert(bytes.end(), text.begin(), text.end());
      PutRaw(&bytes, Crc(text.data(), text.size()));
      WriteAll(fd_, bytes.data(), bytes.size(), path_);
      SyncData(fd_, path_);
    }
    StartChunk();
  }

  ~JournalWriter() override { Abort(); }

  void Append(int64_t index, const std::string& /*label*/, const float* values) override {
    if (fd_ < 0) throw Error(Status::Internal(path_ + ": journal already closed"));
    if (next_frame_ >= 0 && index != next_frame_) {
      // Rows must follow on: resuming relies on "frames done = first frame .. last frame".
      throw Error(Status::Internal(path_ + ": journal rows out of order (frame " + std::to_string(index) + " after " +
                                   std::to_string(next_frame_ - 1) + ")"));
    }
    next_frame_ = index + 1;
    if (rows_ == 0) std::memcpy(chunk_.data() + 8, &index, sizeof index);
    PutRaw(&chunk_, index);
    const auto* p = reinterpret_cast<const uint8_t*>(values);
    chunk_.insert(chunk_.end(), p, p + ncols_ * sizeof(float));
    if (with_boxes_) {
      const auto n = static_cast<uint32_t>(box_scores_.size());
      PutRaw(&chunk_, n);
      for (const std::vector<float>* v : {&boxes_, &box_scores_}) {
        const auto* b = reinterpret_cast<const uint8_t*>(v->data());
        chunk_.insert(chunk_.end(), b, b + v->size() * sizeof(float));
      }
      boxes_.clear();
      box_scores_.clear();
    }
    if (++rows_ == chunk_rows_) FlushChunk();
  }

  void AppendBoxes(const std::vector<float>& boxes, const std::vector<float>& scores) override {
    if (boxes.size() != 4 * scores.size()) {
      throw Error(Status::Internal(path_ + ": " + std::to_string(boxes.size()) + " box values for " +
                                   std::to_string(scores.size()) + " scores"));
    }
    boxes_ = boxes;
    box_scores_ = scores;
  }

  void Commit() override {
    // Called after the real outputs are in place: the journal has served its purpose.
    Close();
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

  void Abort() noexcept override {
    if (fd_ < 0) return;
    Close();
    if (chunks_ == 0) {
      std::error_code ec;
      std::filesystem::remove(path_, ec);
    }
  }

  const std::string& final_path() const override { return path_; }

 private:
  void StartChunk() {
    chunk_.clear();
    PutRaw(&chunk_, kChunkMagic);
    PutRaw(&chunk_, uint32_t{0});  // rows, filled in when the chunk is full
    PutRaw(&chunk_, int64_t{0});   // first frame, filled in by the first row
    rows_ = 0;
  }

  void FlushChunk() {
    const auto rows = static_cast<uint32_t>(rows_);
    std::memcpy(chunk_.data() + 4, &rows, sizeof rows);
    PutRaw(&chunk_, Crc(chunk_.data() + 4, chunk_.size() - 4));
    WriteAll(fd_, chunk_.data(), chunk_.size(), path_);
    SyncData(fd_, path_);
    ++chunks_;
    StartChunk();
  }

  void Close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string path_;
  size_t ncols_;
  int64_t chunk_rows_;
  int fd_ = -1;
  int64_t chunks_ = 0;       // intact chunks in the file
  int64_t rows_ = 0;         // rows in the chunk being filled
  int64_t next_frame_ = -1;  // frame the next row must have; -1 before the first
  std::vector<uint8_t> chunk_;
  bool with_boxes_ = false;
  std::vector<float> boxes_, box_scores_;  // for the next row
};

std::string FingerprintOf(const std::string& path, bool ends_only) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(Status::IOError(path + ": cannot read (" + std::strerror(errno) + ")"));
  struct stat st {};
  ::fstat(fileno(f), &st);
  const auto size = static_cast<uint64_t>(st.st_size);
  constexpr uint64_t kEnd = 64 * 1024;
  std::vector<uint8_t> buf(1 << 20);
  uint32_t crc = 0;
  auto absorb = [&](uint64_t from, uint64_t count) {
    if (std::fseek(f, static_cast<long>(from), SEEK_SET) != 0) return false;
    while (count > 0) {
      size_t n = std::fread(buf.data(), 1, static_cast<size_t>(std::min<uint64_t>(count, buf.size())), f);
      if (n == 0) return false;
      crc = Crc(buf.data(), n, crc);
      count -= n;
    }
    return true;
  };
  bool ok = (ends_only && size > 2 * kEnd) ? absorb(0, kEnd) && absorb(size - kEnd, kEnd) : absorb(0, size);
  std::fclose(f);
  if (!ok) throw Error(Status::IOError(path + ": read failed while fingerprinting"));
  char text[64];
  std::snprintf(text, sizeof text, "%llu:%08x", static_cast<unsigned long long>(size), crc);
  return text;
}

}  // namespace

JournalContents ReadJournal(const std::string& path, size_t ncols, bool with_boxes) {
  JournalContents out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) {
      out.problem = "no journal";
      return out;
    }
    throw Error(Status::IOError(path + ": cannot read the resume journal (" + std::strerror(errno) + ")"));
  }
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  struct stat st {};
  ::fstat(fileno(f), &st);
  const auto file_size = static_cast<uint64_t>(st.st_size);

  char magic[kMagicLen];
  uint32_t header_len = 0, header_crc = 0;
  if (!ReadExactly(f, magic, kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0) {
    out.problem = "not a posebatch resume journal (or one of another format version)";
    return out;
  }
  if (!ReadExactly(f, &header_len, 4) || header_len > kMaxHeaderBytes) {
    out.problem = "header is torn";
    return out;
  }
  std::string text(header_len, '\0');
  if (!ReadExactly(f, text.data(), header_len) || !ReadExactly(f, &header_crc, 4) ||
      Crc(text.data(), text.size()) != header_crc) {
    out.problem = "header is torn or corrupt";
    return out;
  }
  out.header = ParseHeaderText(text);
  out.valid_bytes = kMagicLen + 4 + header_len + 4;

  // Rows are read one by one (with boxes they differ in length), every length checked against
  // what the file still holds before anything is allocated.
  const size_t fixed_bytes = sizeof(int64_t) + ncols * sizeof(float);
  constexpr uint32_t kMaxBoxes = 1u << 16;
  std::vector<uint8_t> chunk;
  std::vector<size_t> row_at;
  for (;;) {
    uint8_t head[kChunkHead];
    if (!ReadExactly(f, head, kChunkHead)) break;
    const auto rows = GetRaw<uint32_t>(head + 4);
    const auto first = GetRaw<int64_t>(head + 8);
    if (GetRaw<uint32_t>(head) != kChunkMagic || rows == 0) break;  // garbage
    chunk.assign(head, head + kChunkHead);
    row_at.clear();
    auto fits = [&](uint64_t more) { return out.valid_bytes + chunk.size() + more + 4 <= file_size; };
    auto append = [&](size_t n) {
      const size_t at = chunk.size();
      chunk.resize(at + n);
      return ReadExactly(f, chunk.data() + at, n);
    };
    bool whole = true;
    for (uint32_t r = 0; whole && r < rows; ++r) {
      row_at.push_back(chunk.size());
      whole = fits(fixed_bytes) && append(fixed_bytes);
      if (whole && with_boxes) {
        whole = fits(4) && append(4);
        const uint32_t n = whole ? GetRaw<uint32_t>(chunk.data() + chunk.size() - 4) : 0;
        whole =
            whole && n <= kMaxBoxes && fits(uint64_t{n} * 5 * sizeof(float)) && append(size_t{n} * 5 * sizeof(float));
      }
    }
    uint32_t crc = 0;
    if (!whole || !ReadExactly(f, &crc, 4)) break;  // a chunk the kill cut short
    if (Crc(chunk.data() + 4, chunk.size() - 4) != crc) break;
    // Rows must continue the frame sequence without gaps.
    int64_t expect = out.frames.empty() ? first : out.frames.back() + 1;
    bool follows = first == expect;
    for (uint32_t r = 0; follows && r < rows; ++r) follows = GetRaw<int64_t>(chunk.data() + row_at[r]) == first + r;
    if (!follows) break;
    for (uint32_t r = 0; r < rows; ++r) {
      const uint8_t* row = chunk.data() + row_at[r];
      out.frames.push_back(first + r);
      const size_t at = out.values.size();
      out.values.resize(at + ncols);
      std::memcpy(out.values.data() + at, row + sizeof(int64_t), ncols * sizeof(float));
      if (with_boxes) {
        const auto n = GetRaw<uint32_t>(row + fixed_bytes);
        const uint8_t* b = row + fixed_bytes + 4;
        std::vector<float> boxes(4 * size_t{n}), scores(n);
        if (n > 0) {  // (memcpy from or to a null pointer is undefined, even for 0 bytes)
          std::memcpy(boxes.data(), b, boxes.size() * sizeof(float));
          std::memcpy(scores.data(), b + boxes.size() * sizeof(float), scores.size() * sizeof(float));
        }
        out.boxes.push_back(std::move(boxes));
        out.box_scores.push_back(std::move(scores));
      }
    }
    ++out.chunks;
    out.valid_bytes += chunk.size() + 4;
  }
  out.discarded_bytes = file_size - out.valid_bytes;
  return out;
}

std::string HeaderMismatch(const JournalHeader& expected, const JournalHeader& found) {
  for (const auto& [key, value] : expected) {
    const std::string* theirs = nullptr;
    for (const auto& kv : found)
      if (kv.first == key) theirs = &kv.second;
    if (theirs == nullptr) return key + " (missing from the journal)";
    if (*theirs != value) return key + " (journal " + *theirs + ", now " + value + ")";
  }
  for (const auto& kv : found) {
    bool known = false;
    for (const auto& e : expected) known = known || e.first == kv.first;
    if (!known) return kv.first + " (only in the journal)";
  }
  return "";
}

std::unique_ptr<PoseWriter> CreateJournalWriter(const std::string& path, const JournalHeader& header, size_t ncols,
                                                int64_t chunk_rows, const JournalContents* resume, bool with_boxes) {
  return std::make_unique<JournalWriter>(path, header, ncols, chunk_rows, with_boxes, resume);
}

int64_t JournalChunkRows(int batch_size) {
  const int64_t b = std::max(1, batch_size);
  return b * ((256 + b - 1) / b);
}

std::string FingerprintFile(const std::string& path) { return FingerprintOf(path, false); }
std::string FingerprintFileEnds(const std::string& path) { return FingerprintOf(path, true); }

std::string FingerprintText(const std::string& text) {
  char out[32];
  std::snprintf(out, sizeof out, "%zu:%08x", text.size(), Crc(text.data(), text.size()));
  return out;
}

}  // namespace posebatch
