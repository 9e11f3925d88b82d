// stitch_tracklets for one tracklet pickle (tracking.md §1.4, §3.8, §4): the names, the
// stitching, and the tracked table as DeepLabCut's format_df / write_tracks lay it out.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "posebatch/tracking.h"
#include "posebatch/writer.h"
#include "track/prediction_meta.h"

namespace fs = std::filesystem;

namespace posebatch {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// <stem><scorer> of <stem><scorer>_el.pickle (any _xx suffix).
std::string PrefixOf(const std::string& pickle) {
  const std::string name = fs::path(pickle).filename().string();
  const size_t dot = name.rfind(".pickle");
  if (dot == std::string::npos || dot + 7 != name.size() || dot < 3 || name[dot - 3] != '_') {
    throw Error(Status::InvalidArgument(pickle + ": expected a DeepLabCut tracklet pickle <video><scorer>_el.pickle "
                                                 "(or _bx, _sk)"));
  }
  return (fs::path(pickle).parent_path() / name.substr(0, dot - 3)).string();
}

// The individuals of the _meta.pickle beside the tracklets (DeepLabCut takes the project's).
std::vector<std::string> IndividualsBeside(const std::string& prefix) {
  const std::string path = prefix + "_meta.pickle";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  return ReadPredictionMeta(path).individuals;
}

// format_df's columns: scorer x names x the multi-animal bodyparts x coords, then "single".
ColumnLayout LayoutOf(const TrackletFile& file, const StitchedTracks& tracks, std::vector<std::string> names) {
  const int64_t n = tracks.n_tracks;
  if (names.empty() || static_cast<int64_t>(names.size()) < n) {
    names.clear();
    for (int64_t i = 1; i <= n; ++i) names.push_back("ind" + std::to_string(i));
  }
  names.resize(static_cast<size_t>(n));
  const int64_t n_multi = tracks.tracks.front().keypoints;
  const int64_t n_unique = file.has_single ? file.single.keypoints : 0;
  std::vector<std::string> bpts = file.bodyparts;
  if (bpts.empty()) {
    for (int64_t i = 1; i <= n_multi; ++i) bpts.push_back("bpt" + std::to_string(i));
    for (int64_t i = 1; i <= n_unique; ++i) bpts.push_back("bpt_unique" + std::to_string(i));
  }
  if (static_cast<int64_t>(bpts.size()) < std::max(n_multi, n_unique)) {
    throw Error(Status::InvalidArgument("the tracklet header names fewer bodyparts than the tracklets hold"));
  }
  ColumnLayout layout;
  layout.scorer = file.scorer.empty() ? "scorer" : file.scorer;
  layout.individuals = names;
  layout.bodyparts.assign(bpts.begin(), bpts.begin() + n_multi);
  if (n_unique > 0) layout.unique_bodyparts.assign(bpts.end() - n_unique, bpts.end());
  return layout;
}

// concatenate_data + reindex + the outer join with "single", written row by row.
void WriteRows(const TrackletFile& file, const StitchedTracks& tracks, PoseWriter* writer) {
  int64_t last = -1;  // rows 0..last (reindex): before the first tracked frame they are NaN
  for (const auto& t : tracks.tracks) last = std::max(last, t.frames.back());
  const int64_t k = tracks.tracks.front().keypoints;
  const size_t block = static_cast<size_t>(k * 3);
  const size_t multi_cols = block * static_cast<size_t>(tracks.n_tracks);
  const size_t unique_cols = file.has_single ? static_cast<size_t>(file.single.keypoints * 3) : 0;
  std::vector<int64_t> index;
  for (int64_t f = 0; f <= last; ++f) index.push_back(f);
  if (file.has_single) {  // how="outer": the sorted union
    index.insert(index.end(), file.single.frames.begin(), file.single.frames.end());
    std::sort(index.begin(), index.end());
    index.erase(std::unique(index.begin(), index.end()), index.end());
  }
  const int64_t rows = last + 1;
  std::vector<double> multi(static_cast<size_t>(rows) * multi_cols, kNaN);
  for (size_t t = 0; t < tracks.tracks.size(); ++t) {
    const TrackletRows& track = tracks.tracks[t];
    for (size_t i = 0; i < track.size(); ++i) {  // a repeated frame: the later row wins
      double* dst = multi.data() + static_cast<size_t>(track.frames[i]) * multi_cols + t * block;
      const double* src = track.row(i);
      for (int64_t j = 0; j < k; ++j)
        for (int q = 0; q < 3; ++q) dst[j * 3 + q] = src[j * track.columns + q];
    }
  }
  std::vector<double> row(multi_cols + unique_cols);
  size_t s = 0;
  for (int64_t f : index) {
    if (f >= 0 && f < rows) {
      std::copy_n(multi.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(f) * multi_cols), multi_cols,
                  row.begin());
    } else {
      std::fill_n(row.begin(), multi_cols, kNaN);
    }
    std::fill(row.begin() + static_cast<std::ptrdiff_t>(multi_cols), row.end(), kNaN);
    if (file.has_single) {
      while (s < file.single.size() && file.single.frames[s] < f) ++s;
      for (size_t u = s; u < file.single.size() && file.single.frames[u] == f; ++u) {  // duplicates: the last
        const double* src = file.single.row(u);
        for (int64_t j = 0; j < file.single.keypoints; ++j)
          for (int q = 0; q < 3; ++q)
            row[multi_cols + static_cast<size_t>(j * 3 + q)] = src[j * file.single.columns + q];
      }
    }
    writer->AppendDouble(f, row.data());
  }
}

}  // namespace

Status StitchTrackletFile(const std::string& tracklet_pickle, const StitchOptions& options, std::string* written,
                          std::vector<std::string>* notes) {
  try {
    const std::string prefix = PrefixOf(tracklet_pickle);
    StitchOptions o = options;
    std::vector<std::string> names = o.animal_names;
    if (!names.empty() && o.n_tracks > 0 && static_cast<size_t>(o.n_tracks) != names.size()) {
      return Status::InvalidArgument("n_tracks (" + std::to_string(o.n_tracks) +
                                     ") must equal the number of animal names (" + std::to_string(names.size()) +
                                     ") when both are given");
    }
    if (names.empty()) names = IndividualsBeside(prefix);
    if (o.n_tracks <= 0) o.n_tracks = static_cast<int>(names.size());
    if (o.n_tracks <= 0) {
      return Status::InvalidArgument(tracklet_pickle +
                                     ": no _meta.pickle beside it names the individuals; "
                                     "give the number of tracks (--n-tracks) or the animal names");
    }
    TrackletFile file;
    Status st = ReadTrackletPickle(tracklet_pickle, &file);
    if (!st.ok()) return st;
    StitchedTracks tracks;
    st = StitchTracklets(file, o, &tracks, notes);
    if (!st.ok()) return Status(st.code(), tracklet_pickle + ": " + st.message());
    const ColumnLayout layout = LayoutOf(file, tracks, names);

    const fs::path dir = o.dest_dir.empty() ? fs::path(tracklet_pickle).parent_path() : fs::path(o.dest_dir);
    std::error_code ec;
    if (!o.dest_dir.empty()) fs::create_directories(dir, ec);
    const std::string stem = fs::path(tracklet_pickle).stem().string();
    const std::string h5 = (dir / (stem + ".h5")).string();
    H5WriterOptions h5o;
    h5o.key = "tracks";
    h5o.float64 = true;
    std::vector<std::unique_ptr<PoseWriter>> writers;
    writers.push_back(CreateH5Writer(h5, layout, h5o));
    if (o.save_as_csv) writers.push_back(CreateCsvWriter((dir / (stem + ".csv")).string(), layout));
    std::unique_ptr<PoseWriter> writer = CreateFanOutWriter(std::move(writers));
    try {
      WriteRows(file, tracks, writer.get());
      writer->Commit();
    } catch (...) {
      writer->Abort();
      throw;
    }
    *written = h5;
    return Status::OK();
  } catch (...) {
    return StatusFromCurrentException();
  }
}

Status TrackPredictions(const std::string& predictions, const TrackOptions& options, std::string* written,
                        std::vector<std::string>* notes) {
  std::string pickle;
  Status st = ConvertToTracklets(predictions, options.tracklets, &pickle, notes);
  if (!st.ok()) return st;
  StitchOptions stitch = options.stitch;
  stitch.dest_dir.clear();                                    // beside the tracklets
  if (stitch.animal_names.empty() && stitch.n_tracks <= 0) {  // --dest: the _meta.pickle is not beside them
    try {
      stitch.animal_names = ReadPredictionMeta(PredictionPrefix(predictions) + "_meta.pickle").individuals;
    } catch (...) {
      return StatusFromCurrentException();
    }
  }
  return StitchTrackletFile(pickle, stitch, written, notes);
}

}  // namespace posebatch
