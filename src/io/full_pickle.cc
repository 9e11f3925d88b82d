// _full.pickle and _assemblies.pickle, as DeepLabCut's analyze_videos writes them for
// multi-animal projects (apis/videos.py: _generate_output_data, _generate_assemblies_file).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "io/frame_key.h"
#include "io/pickle_stream.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"

namespace posebatch {
namespace {

namespace fs = std::filesystem;

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f != nullptr) std::fclose(f);
  }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File Open(const std::string& path, const char* mode) {
  File f(std::fopen(path.c_str(), mode));
  if (!f) throw Error(Status::IOError(path + ": cannot open (" + std::strerror(errno) + ")"));
  return f;
}

class FullPickleWriter : public PoseWriter {
 public:
  FullPickleWriter(const ColumnLayout& layout, const FullPickleOptions& options)
      : options_(options),
        individuals_(static_cast<int64_t>(std::max<size_t>(1, layout.individuals.size()))),
        bodyparts_(static_cast<int64_t>(layout.bodyparts.size())),
        unique_(static_cast<int64_t>(layout.unique_bodyparts.size())),
        names_(layout.bodyparts),
        spool_path_(options.full_path + ".rows.part"),
        box_spool_path_(options.full_path + ".boxes.part") {
    names_.insert(names_.end(), layout.unique_bodyparts.begin(), layout.unique_bodyparts.end());
    columns_ = static_cast<size_t>((individuals_ * bodyparts_ + unique_) * 3);
    spool_ = Open(spool_path_, "w+b");
    if (options.with_boxes) box_spool_ = Open(box_spool_path_, "w+b");
    with_box_scores_ = options.with_box_scores;
  }
  ~FullPickleWriter() override { Abort(); }

  void AppendBoxes(const std::vector<float>& boxes, const std::vector<float>& scores) override {
    pending_boxes_ = boxes;
    pending_scores_ = scores;
  }

  void Append(int64_t, const std::string&, const float* values) override {
    if (std::fwrite(values, sizeof(float), columns_, spool_.get()) != columns_) {
      throw Error(Status::IOError(spool_path_ + ": cannot write (" + std::strerror(errno) + ")"));
    }
    if (box_spool_) {  // n, then n boxes (x, y, w, h), then n scores; rows without boxes have n = 0
      const uint32_t n = static_cast<uint32_t>(std::min(pending_boxes_.size() / 4, pending_scores_.size()));
      bool ok = std::fwrite(&n, sizeof n, 1, box_spool_.get()) == 1;
      if (ok && n > 0) {  // (an empty vector's data() may be null, which fwrite must not get)
        ok = std::fwrite(pending_boxes_.data(), sizeof(float), 4 * n, box_spool_.get()) == 4 * n &&
             std::fwrite(pending_scores_.data(), sizeof(float), n, box_spool_.get()) == n;
      }
      if (!ok) throw Error(Status::IOError(box_spool_path_ + ": cannot write (" + std::strerror(errno) + ")"));
      pending_boxes_.clear();
      pending_scores_.clear();
    }
    ++rows_;
  }

  void Commit() override {
    if (std::fflush(spool_.get()) != 0 || (box_spool_ && std::fflush(box_spool_.get()) != 0)) {
      throw Error(Status::IOError(spool_path_ + ": cannot write (" + std::strerror(errno) + ")"));
    }
    if (box_spool_) std::rewind(box_spool_.get());
    WriteAtomically(options_.full_path, [&](PickleStream& out) { WriteFull(out); });
    WriteAtomically(options_.assemblies_path, [&](PickleStream& out) { WriteAssemblies(out); });
    spool_.reset();
    box_spool_.reset();
    std::error_code ec;
    fs::remove(spool_path_, ec);
    fs::remove(box_spool_path_, ec);
  }

  void Abort() noexcept override {
    spool_.reset();
    box_spool_.reset();
    std::error_code ec;
    fs::remove(spool_path_, ec);
    fs::remove(box_spool_path_, ec);
    for (const auto& p : {options_.full_path, options_.assemblies_path}) fs::remove(p + ".part", ec);
  }

  const std::string& final_path() const override { return options_.full_path; }

 private:
  template <typename Body>
  void WriteAtomically(const std::string& path, Body&& body) {
    const std::string tmp = path + ".part";
    bool ok;
    int err = 0;
    {
      File f = Open(tmp, "wb");
      PickleStream out(f.get());
      out.Begin();
      body(out);
      out.End();
      ok = out.ok();
      if (!ok) err = errno;
      if (std::fclose(f.release()) != 0 && ok) {
        ok = false;
        err = errno;
      }
    }
    std::error_code ec;
    if (ok) fs::rename(tmp, path, ec);
    if (!ok || ec) {
      fs::remove(tmp, ec);
      throw Error(Status::IOError(path + ": cannot write (" +
                                  (err == ENOSPC ? std::string("disk full")
                                   : err != 0    ? std::string(std::strerror(err))
                                                 : std::string("cannot rename")) +
                                  ")"));
    }
  }

  // Reads spooled row r into row_.
  void ReadRow(int64_t r) {
    row_.resize(columns_);
    if (std::fseek(spool_.get(), static_cast<long>(r * columns_ * sizeof(float)), SEEK_SET) != 0 ||
        std::fread(row_.data(), sizeof(float), columns_, spool_.get()) != columns_) {
      throw Error(Status::IOError(spool_path_ + ": cannot read back row " + std::to_string(r)));
    }
  }

  // Value c (0 x, 1 y, 2 score) of keypoint j for individual a; unique bodyparts have a = 0.
  float At(int64_t a, int64_t j, int c) const {
    if (j < bodyparts_) return row_[static_cast<size_t>((a * bodyparts_ + j) * 3 + c)];
    return row_[static_cast<size_t>((individuals_ * bodyparts_ + (j - bodyparts_)) * 3 + c)];
  }

  void WriteFull(PickleStream& out) {
    const int width = KeyWidth(rows_);
    out.BeginDict();
    out.Str("metadata");
    out.BeginDict();
    out.Str("nms radius");
    options_.nms_radius >= 0 ? out.Int(options_.nms_radius) : out.None();
    out.Str("minimal confidence");
    options_.min_confidence >= 0 ? out.Float(options_.min_confidence) : out.None();
    out.Str("sigma");
    out.Float(options_.sigma);
    out.Str("PAFgraph");
    if (options_.graph.empty()) {
      out.None();
    } else {
      out.BeginList();
      for (const auto& e : options_.graph) out.Ints(e);
      out.EndList();
    }
    out.Str("PAFinds");
    out.Ints(options_.graph_inds);
    out.Str("all_joints");
    out.BeginList();
    for (size_t j = 0; j < names_.size(); ++j) out.Ints({static_cast<int64_t>(j)});
    out.EndList();
    out.Str("all_joints_names");
    out.Strings(names_);
    out.Str("nframes");
    out.Int(rows_);
    out.Str("key_str_width");
    out.Int(width);
    out.EndDict();
    out.EndDict();  // flush the metadata; frames follow as SETITEMS batches of one

    std::vector<float> xy, score;
    for (int64_t r = 0; r < rows_; ++r) {
      ReadRow(r);
      out.MoreItems();
      out.Str(FrameKey(r, width));
      out.BeginDict();
      out.Str("coordinates");
      out.BeginTuple();
      out.BeginList();
      const int64_t joints = bodyparts_ + unique_;
      for (int64_t j = 0; j < joints; ++j) {
        const int64_t n = j < bodyparts_ ? individuals_ : 1;
        xy.resize(static_cast<size_t>(n * 2));
        for (int64_t a = 0; a < n; ++a) {
          xy[a * 2] = At(a, j, 0);
          xy[a * 2 + 1] = At(a, j, 1);
        }
        out.Array({n, 2}, xy.data());
      }
      out.EndList();
      out.EndTuple();
      out.Str("confidence");
      out.BeginList();
      for (int64_t j = 0; j < joints; ++j) {
        const int64_t n = j < bodyparts_ ? individuals_ : 1;
        score.resize(static_cast<size_t>(n));
        for (int64_t a = 0; a < n; ++a) score[a] = At(a, j, 2);
        out.Array({n, 1}, score.data());
      }
      out.EndList();
      out.Str("costs");
      out.None();
      if (box_spool_) WriteBoxes(out);
      out.EndDict();
      out.EndDict();
    }
  }

  // The next frame's boxes from the box spool, as DeepLabCut's top-down postprocessor reports
  // them: "bboxes" (max(n, individuals), 4) float64 x, y, w, h and (top-down, not CTD)
  // "bbox_scores" (max(n, individuals),) float32, padded with -1.
  void WriteBoxes(PickleStream& out) {
    uint32_t n = 0;
    if (std::fread(&n, sizeof n, 1, box_spool_.get()) != 1) {
      throw Error(Status::IOError(box_spool_path_ + ": cannot read back boxes"));
    }
    std::vector<float> boxes(4 * static_cast<size_t>(n)), scores(n);
    if (n > 0 && (std::fread(boxes.data(), sizeof(float), boxes.size(), box_spool_.get()) != boxes.size() ||
                  std::fread(scores.data(), sizeof(float), scores.size(), box_spool_.get()) != scores.size())) {
      throw Error(Status::IOError(box_spool_path_ + ": cannot read back boxes"));
    }
    const int64_t rows = std::max<int64_t>(n, individuals_);
    std::vector<double> b(static_cast<size_t>(rows * 4), -1.0);
    std::vector<float> s(static_cast<size_t>(rows), -1.0f);
    for (size_t i = 0; i < boxes.size(); ++i) b[i] = boxes[i];
    std::copy(scores.begin(), scores.end(), s.begin());
    out.Str("bboxes");
    out.Array({rows, 4}, b.data());
    if (!with_box_scores_) return;
    out.Str("bbox_scores");
    out.Array({rows}, s.data());
  }

  void WriteAssemblies(PickleStream& out) {
    out.BeginDict();
    out.Str("single");
    out.BeginDict();
    std::vector<float> unique(static_cast<size_t>(unique_ * 3));
    for (int64_t r = 0; unique_ > 0 && r < rows_; ++r) {
      ReadRow(r);
      out.Int(r);
      for (int64_t u = 0; u < unique_; ++u)
        for (int c = 0; c < 3; ++c) unique[u * 3 + c] = At(0, bodyparts_ + u, c);
      out.Array({unique_, 3}, unique.data());
    }
    out.EndDict();
    out.EndDict();
    // Per frame: (animals, bodyparts, 4) float64 = x, y, score, identity (-1: none), without
    // the animals whose values are all negative (DeepLabCut's padding). Rows of frames that
    // could not be decoded (NaN) are dropped the same way.
    std::vector<double> animals;
    for (int64_t r = 0; r < rows_; ++r) {
      ReadRow(r);
      animals.clear();
      int64_t kept = 0;
      for (int64_t a = 0; a < individuals_; ++a) {
        bool missing = true;
        for (int64_t j = 0; j < bodyparts_ && missing; ++j)
          for (int c = 0; c < 3; ++c) {
            const float v = At(a, j, c);
            if (!(v < 0) && !std::isnan(v)) missing = false;
          }
        if (missing) continue;
        for (int64_t j = 0; j < bodyparts_; ++j) {
          for (int c = 0; c < 3; ++c) animals.push_back(At(a, j, c));
          animals.push_back(-1.0);
        }
        ++kept;
      }
      out.MoreItems();
      out.Int(r);
      out.Array({kept, bodyparts_, 4}, animals.data());
      out.EndDict();
    }
  }

  FullPickleOptions options_;
  int64_t individuals_, bodyparts_, unique_;
  std::vector<std::string> names_;  // bodyparts, then unique bodyparts
  size_t columns_ = 0;
  std::string spool_path_, box_spool_path_;
  File spool_, box_spool_;  // rows; top-down boxes
  std::vector<float> pending_boxes_, pending_scores_;
  bool with_box_scores_ = true;
  int64_t rows_ = 0;
  std::vector<float> row_;
};

}  // namespace

std::unique_ptr<PoseWriter> CreateFullPickleWriter(const ColumnLayout& layout, const FullPickleOptions& options) {
  return std::make_unique<FullPickleWriter>(layout, options);
}

}  // namespace posebatch
