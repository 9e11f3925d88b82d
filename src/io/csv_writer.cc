// pandas DataFrame.to_csv, byte for byte, for DeepLabCut's prediction frames.
#include <cstdio>
#include <filesystem>

#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {
namespace {

// csv.QUOTE_MINIMAL, as pandas uses.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class CsvWriter : public PoseWriter {
 public:
  CsvWriter(const std::string& final_path, const ColumnLayout& layout)
      : final_path_(final_path), temp_path_(final_path + ".part") {
    file_ = std::fopen(temp_path_.c_str(), "wb");
    if (file_ == nullptr) throw Error(Status::IOError(temp_path_ + ": cannot create file"));
    auto columns = layout.Columns();
    ncols_ = columns.size();
    auto levels = layout.LevelNames();
    std::string header;
    for (size_t level = 0; level < levels.size(); ++level) {
      header += CsvField(levels[level]);
      for (const auto& col : columns) header += "," + CsvField(col[level]);
      header += "\n";
    }
    Put(header);
  }
  ~CsvWriter() override { Abort(); }

  void Append(int64_t index, const std::string& label, const float* values) override {
    line_ = label.empty() ? std::to_string(index) : CsvField(label);
    for (size_t i = 0; i < ncols_; ++i) {
      line_ += ',';
      line_ += FormatFloat32Like(values[i]);
    }
    line_ += '\n';
    Put(line_);
  }

  void AppendDouble(int64_t index, const double* values) override {
    line_ = std::to_string(index);
    for (size_t i = 0; i < ncols_; ++i) {
      line_ += ',';
      line_ += FormatFloat64Like(values[i]);
    }
    line_ += '\n';
    Put(line_);
  }

  void Commit() override {
    if (file_ == nullptr) throw Error(Status::Internal(final_path_ + ": writer already closed"));
    bool ok = std::fflush(file_) == 0;
    ok = (std::fclose(file_) == 0) && ok;
    file_ = nullptr;
    std::error_code ec;
    if (!ok) {
      std::filesystem::remove(temp_path_, ec);
      throw Error(Status::IOError(temp_path_ + ": write failed (disk full?)"));
    }
    std::filesystem::rename(temp_path_, final_path_, ec);
    if (ec) throw Error(Status::IOError(final_path_ + ": cannot move the finished file into place"));
  }

  void Abort() noexcept override {
    if (file_ == nullptr) return;
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::remove(temp_path_, ec);
  }

  const std::string& final_path() const override { return final_path_; }

 private:
  void Put(const std::string& s) {
    if (std::fwrite(s.data(), 1, s.size(), file_) != s.size()) {
      throw Error(Status::IOError(temp_path_ + ": write failed (disk full?)"));
    }
  }

  std::string final_path_, temp_path_;
  std::FILE* file_ = nullptr;
  size_t ncols_ = 0;
  std::string line_;
};

}  // namespace

std::unique_ptr<PoseWriter> CreateCsvWriter(const std::string& final_path, const ColumnLayout& layout) {
  return std::make_unique<CsvWriter>(final_path, layout);
}

}  // namespace posebatch
