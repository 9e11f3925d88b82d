#include "io/zip_archive.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>

#include "posebatch/status.h"

namespace posebatch {
namespace {

constexpr uint32_t kEocd = 0x06054b50, kEocd64 = 0x06064b50, kEocd64Locator = 0x07064b50;
constexpr uint32_t kCentral = 0x02014b50, kLocal = 0x04034b50;
constexpr uint64_t kMaxEntries = 1u << 20;
constexpr uint64_t kMaxInflated = uint64_t{1} << 34;  // 16 GiB: larger is surely corrupt
constexpr uint64_t kMaxDeflateRatio = 1040;           // deflate's limit is 1032:1

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t U32(const uint8_t* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint64_t U64(const uint8_t* p) { return uint64_t{U32(p)} | (uint64_t{U32(p + 4)} << 32); }

}  // namespace

std::shared_ptr<ZipArchive> ZipArchive::Open(const std::string& path) {
  std::shared_ptr<ZipArchive> z(new ZipArchive());
  z->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Status::NotFound(path + ": cannot open (" + std::strerror(errno) + ")"));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(Status::InvalidArgument(path + ": not a regular file"));
  }
  z->size_ = static_cast<uint64_t>(st.st_size);
  if (z->size_ > 0) {
    // Private, writable mapping: tensors may view it without copies, and a write to one
    // (copy-on-write) never reaches the file.
    void* m = ::mmap(nullptr, z->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      ::close(fd);
      throw Error(Status::IOError(path + ": cannot map file"));
    }
    z->mapping_ = m;
    z->mapping_size_ = z->size_;
    z->data_ = static_cast<const uint8_t*>(m);
  }
  ::close(fd);
  z->Parse();
  return z;
}

std::shared_ptr<ZipArchive> ZipArchive::FromBytes(std::string bytes, const std::string& name) {
  std::shared_ptr<ZipArchive> z(new ZipArchive());
  z->path_ = name;
  z->owned_ = std::move(bytes);
  z->data_ = reinterpret_cast<const uint8_t*>(z->owned_.data());
  z->size_ = z->owned_.size();
  z->Parse();
  return z;
}

ZipArchive::~ZipArchive() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

void ZipArchive::Bad(const std::string& what) const {
  throw Error(Status::Corrupt(path_ + ": not a valid model archive (" + what + ")"));
}

void ZipArchive::Parse() {
  if (size_ < 22) Bad("file too small for a zip archive");
  // End of central directory: last 22 bytes + up to 64 KiB of comment.
  int64_t eocd = -1;
  const uint64_t lowest = size_ > 22 + 65535 ? size_ - 22 - 65535 : 0;
  for (uint64_t pos = size_ - 22 + 1; pos-- > lowest;) {
    if (U32(data_ + pos) == kEocd) {
      eocd = static_cast<int64_t>(pos);
      break;
    }
  }
  if (eocd < 0) Bad("no end-of-central-directory record; truncated?");
  const uint8_t* e = data_ + eocd;
  uint64_t count = U16(e + 10);
  uint64_t cd_size = U32(e + 12);
  uint64_t cd_offset = U32(e + 16);
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    if (eocd < 20 || U32(data_ + eocd - 20) != kEocd64Locator) Bad("zip64 locator missing");
    uint64_t rec = U64(data_ + eocd - 20 + 8);
    if (rec > size_ || size_ - rec < 56 || U32(data_ + rec) != kEocd64) Bad("zip64 record out of bounds");
    count = U64(data_ + rec + 32);
    cd_size = U64(data_ + rec + 40);
    cd_offset = U64(data_ + rec + 48);
  }
  if (count > kMaxEntries) Bad("too many entries");
  if (cd_offset > size_ || cd_size > size_ - cd_offset) Bad("central directory out of bounds");
  if (count > cd_size / 46) Bad("central directory too small for its entries");
  uint64_t pos = cd_offset;
  const uint64_t end = cd_offset + cd_size;
  entries_.reserve(static_cast<size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    if (end - pos < 46 || pos > end) Bad("central directory truncated");
    const uint8_t* c = data_ + pos;
    if (U32(c) != kCentral) Bad("bad central directory entry");
    Entry en;
    en.method = U16(c + 10);
    en.compressed = U32(c + 20);
    en.size = U32(c + 24);
    const uint64_t name_len = U16(c + 28), extra_len = U16(c + 30), comment_len = U16(c + 32);
    uint64_t local = U32(c + 42);
    if (end - pos - 46 < name_len + extra_len + comment_len) Bad("central directory entry truncated");
    en.name.assign(reinterpret_cast<const char*>(c + 46), name_len);
    // Zip64 extra field: the 0xFFFFFFFF fields, in order.
    const uint8_t* x = c + 46 + name_len;
    const uint8_t* xend = x + extra_len;
    while (xend - x >= 4) {
      uint16_t id = U16(x), len = U16(x + 2);
      if (xend - x - 4 < len) Bad("extra field truncated");
      if (id == 0x0001) {
        const uint8_t* f = x + 4;
        const uint8_t* fend = f + len;
        auto take = [&](uint64_t* v) {
          if (*v != 0xFFFFFFFF) return;
          if (fend - f < 8) Bad("zip64 extra field truncated");
          *v = U64(f);
          f += 8;
        };
        take(&en.size);
        take(&en.compressed);
        take(&local);
      }
      x += 4 + len;
    }
    if (en.method != 0 && en.method != 8) Bad("entry '" + en.name + "' uses unsupported compression");
    if (en.method == 0 && en.compressed != en.size) Bad("stored entry '" + en.name + "' has inconsistent sizes");
    if (en.size > kMaxInflated) Bad("entry '" + en.name + "' declares an absurd size");
    // Deflate expands at most ~1032:1: a larger declared size is a lie that would make Read()
    // allocate gigabytes for a few bytes of input.
    if (en.method == 8 && en.size / kMaxDeflateRatio > en.compressed + 1) {
      Bad("entry '" + en.name + "' declares more data than its compressed bytes can hold");
    }
    if (local > size_ || size_ - local < 30 || U32(data_ + local) != kLocal) {
      Bad("entry '" + en.name + "' has a bad local header offset");
    }
    const uint64_t data_start = local + 30 + U16(data_ + local + 26) + U16(data_ + local + 28);
    if (data_start > size_ || en.compressed > size_ - data_start) {
      Bad("entry '" + en.name + "' data lies outside the file (truncated?)");
    }
    en.data_offset = data_start;
    by_name_[en.name] = entries_.size();
    entries_.push_back(std::move(en));
    pos += 46 + name_len + extra_len + comment_len;
  }
}

const ZipArchive::Entry* ZipArchive::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

std::string_view ZipArchive::Read(const Entry& entry, std::string* scratch) const {
  const char* src = reinterpret_cast<const char*>(data_ + entry.data_offset);
  if (entry.method == 0) return std::string_view(src, entry.size);
  scratch->assign(entry.size, '\0');
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) Bad("zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(src));
  zs.next_out = reinterpret_cast<Bytef*>(scratch->data());
  uint64_t in_left = entry.compressed, out_left = entry.size;
  int rc = Z_OK;
  while (rc == Z_OK) {
    const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
    const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(out_left, 1u << 30));
    zs.avail_in = in_chunk;
    zs.avail_out = out_chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    in_left -= in_chunk - zs.avail_in;
    out_left -= out_chunk - zs.avail_out;
    if (rc == Z_OK && in_chunk == zs.avail_in && out_chunk == zs.avail_out) break;  // no progress
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || out_left != 0) Bad("entry '" + entry.name + "' does not inflate");
  return std::string_view(*scratch);
}

}  // namespace posebatch
