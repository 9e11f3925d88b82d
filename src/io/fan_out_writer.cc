// CreateFanOutWriter (writer.h): one row stream into several files, committed or aborted together.
#include <memory>
#include <vector>

#include "posebatch/writer.h"

namespace posebatch {
namespace {

class FanOutWriter : public PoseWriter {
 public:
  explicit FanOutWriter(std::vector<std::unique_ptr<PoseWriter>> writers) : writers_(std::move(writers)) {}
  void Append(int64_t index, const std::string& label, const float* values) override {
    for (auto& w : writers_) w->Append(index, label, values);
  }
  void AppendDouble(int64_t index, const double* values) override {
    for (auto& w : writers_) w->AppendDouble(index, values);
  }
  void AppendBoxes(const std::vector<float>& boxes, const std::vector<float>& scores) override {
    for (auto& w : writers_) w->AppendBoxes(boxes, scores);
  }
  void Commit() override {
    try {
      for (auto& w : writers_) w->Commit();
    } catch (...) {
      Abort();
      throw;
    }
  }
  void Abort() noexcept override {
    for (auto& w : writers_) w->Abort();
  }
  const std::string& final_path() const override { return writers_.front()->final_path(); }

 private:
  std::vector<std::unique_ptr<PoseWriter>> writers_;
};

}  // namespace

std::unique_ptr<PoseWriter> CreateFanOutWriter(std::vector<std::unique_ptr<PoseWriter>> writers) {
  return std::make_unique<FanOutWriter>(std::move(writers));
}

}  // namespace posebatch
