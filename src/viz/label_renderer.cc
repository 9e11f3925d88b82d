#include "viz/label_renderer.h"

namespace posebatch::viz {
namespace {

VideoEncoderOptions EncoderOptionsFor(const RendererOptions& o) {
  VideoEncoderOptions e;
  e.width = o.width;
  e.height = o.height;
  e.fps = o.fps;
  e.crf = o.crf;
  e.pixels = EncoderPixels::kBgr0;  // the canvas's own pixels, no conversion back to RGB24
  return e;
}

}  // namespace

LabelRenderer::LabelRenderer(PoseDrawer drawer, const std::string& path, const RendererOptions& options)
    : drawer_(std::move(drawer)),
      options_(options),
      canvas_(options.width, options.height),
      encoder_(path, EncoderOptionsFor(options)) {}

void LabelRenderer::Add(const uint8_t* rgb, const double* row, const std::vector<float>* boxes) {
  canvas_.Load(rgb);
  if (row != nullptr) {
    std::vector<const double*> trail;
    for (const auto& h : history_) trail.push_back(h.data());
    cairo_t* cr = canvas_.context();
    cairo_save(cr);
    cairo_translate(cr, options_.offset_x, options_.offset_y);
    drawer_.Draw(canvas_, row, trail, boxes);
    cairo_restore(cr);
    const size_t keep = static_cast<size_t>(drawer_.style().trail);
    if (keep > 0) {
      std::vector<double> copy;
      if (history_.size() == keep) {  // reuse the oldest row's buffer
        copy = std::move(history_.back());
        history_.pop_back();
      }
      copy.assign(row, row + drawer_.columns().num_columns);
      history_.push_front(std::move(copy));
    }
  } else {
    history_.clear();
  }
  encoder_.Write(canvas_.data(), canvas_.stride());
}

void LabelRenderer::Finish() { encoder_.Finish(); }

void LabelRenderer::Abort() noexcept { encoder_.Abort(); }

}  // namespace posebatch::viz
