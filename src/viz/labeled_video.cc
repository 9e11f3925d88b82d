// posebatch label: a DeepLabCut .h5 drawn on its video (DeepLabCut's create_labeled_video).
#include "posebatch/labeled_video.h"

#include <filesystem>
#include <unordered_map>

#include "io/h5_reader.h"
#include "posebatch/frame_source.h"
#include "viz/draw_style.h"
#include "viz/label_renderer.h"
#include "viz/labeling_writer.h"

namespace fs = std::filesystem;

namespace posebatch {

std::vector<std::string> ColormapNames() {
  std::vector<std::string> names = viz::Colormap::Names();
  const size_t n = names.size();
  for (size_t i = 0; i < n; ++i) names.push_back(names[i] + "_r");
  return names;
}

std::string LabeledVideoPath(const std::string& h5_path) {
  std::string base = h5_path;
  const std::string ext = fs::path(h5_path).extension().string();
  if (ext == ".h5" || ext == ".hdf5") base.resize(base.size() - ext.size());
  return base + "_labeled.mp4";
}

namespace viz {

Status LabelFromH5(const std::string& h5_path, const std::string& video_path, const std::string& output_path,
                   const LabeledVideoOptions& options, const std::string& model_config_text, const Crop& crop,
                   std::string* written, std::vector<std::string>* notes) {
  try {
    std::error_code ec;
    if (!fs::is_regular_file(h5_path, ec)) return Status::NotFound(h5_path + ": no such file");
    if (!fs::is_regular_file(video_path, ec)) return Status::NotFound(video_path + ": no such file");
    const PoseTable table = ReadPoseTable(h5_path);
    if (table.index.empty() && !table.labels.empty()) {
      return Status::InvalidArgument(h5_path + ": rows are images, not frames of a video");
    }
    viz::PoseColumns columns = viz::ParsePoseColumns(table.level_names, table.columns, h5_path);
    std::vector<std::string> local_notes;
    viz::DrawStyle style =
        viz::ResolveStyle(options, ResolveProjectSettings(options, model_config_text), columns, &local_notes);
    // Frame number -> row. Frames without a row are written without poses.
    std::unordered_map<int64_t, int64_t> row_of;
    int64_t first = -1, last = -1;
    for (int64_t r = 0; r < table.rows; ++r) {
      const int64_t f = table.index[static_cast<size_t>(r)];
      row_of[f] = r;
      first = first < 0 ? f : std::min(first, f);
      last = std::max(last, f);
    }
    if (table.rows == 0) return Status::InvalidArgument(h5_path + ": no rows");
    DecodeOptions decode;
    decode.start_frame = first;  // the frames the file covers (a --frames run: its range)
    decode.stop_frame = last + 1;
    decode.decoder_threads = 2;
    std::unique_ptr<FrameSource> source = OpenVideo(video_path, decode);
    const SourceInfo& info = source->info();
    const viz::RendererOptions ro = RendererOptionsFor(info, options, crop);
    const std::string out = output_path.empty() ? LabeledVideoPath(h5_path) : output_path;
    viz::LabelRenderer renderer(viz::PoseDrawer(std::move(columns), std::move(style)), out, ro);
    try {
      Frame frame;
      int64_t drawn = 0;
      while (source->Next(&frame)) {
        if (frame.width != ro.width || frame.height != ro.height) {
          throw Error(Status::Corrupt(video_path + ": frame " + std::to_string(frame.index) + " changes size"));
        }
        auto it = row_of.find(frame.index);
        renderer.Add(frame.rgb.data(), it == row_of.end() ? nullptr : table.Row(it->second));
        drawn += it != row_of.end();
      }
      if (drawn == 0) {
        throw Error(Status::InvalidArgument(h5_path + ": none of its frame numbers (" + std::to_string(first) + ".." +
                                            std::to_string(last) + ") is a frame of " + video_path));
      }
      renderer.Finish();
    } catch (...) {
      renderer.Abort();
      throw;
    }
    if (!renderer.encoder().fallback_note().empty()) local_notes.push_back(renderer.encoder().fallback_note());
    if (written != nullptr) *written = out;
    if (notes != nullptr) notes->insert(notes->end(), local_notes.begin(), local_notes.end());
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

}  // namespace viz

Status CreateLabeledVideo(const std::string& h5_path, const std::string& video_path, const std::string& output_path,
                          const LabeledVideoOptions& options, std::string* written, std::vector<std::string>* notes) {
  return viz::LabelFromH5(h5_path, video_path, output_path, options, "", Crop{}, written, notes);
}

}  // namespace posebatch
