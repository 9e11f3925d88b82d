// Decoding real encoded videos and images; writers' formatting.
#include <gtest/gtest.h>

extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "io/ffmpeg_decoder.h"
#include "posebatch/frame_source.h"
#include "posebatch/status.h"
#include "posebatch/writer.h"
#include "test_env.h"

namespace posebatch {
namespace {

using testing::Fixture;

// Reads the 16-bit index the fixture painted as black/white blocks on each frame.
int ReadIndexCode(const Frame& f) {
  int value = 0;
  for (int bit = 0; bit < 16; ++bit) {
    long sum = 0;
    for (int y = 12; y < 28; ++y)
      for (int x = 4 + bit * 19 + 4; x < 4 + bit * 19 + 12; ++x) sum += f.rgb[(y * f.width + x) * 3 + 1];
    if (sum / (16 * 8) > 128) value |= 1 << bit;
  }
  return value;
}

class VideoDecode : public ::testing::TestWithParam<std::string> {};

TEST_P(VideoDecode, EveryFrameArrivesInOrder) {
  auto src = OpenVideo(Fixture("videos/" + GetParam()), DecodeOptions{});
  EXPECT_EQ(src->info().width, 320);
  EXPECT_EQ(src->info().height, 240);
  EXPECT_NEAR(src->info().fps, 30.0, 1e-6);
  Frame f;
  int n = 0;
  while (src->Next(&f)) {
    ASSERT_EQ(f.index, n);
    ASSERT_EQ(ReadIndexCode(f), n) << "frame " << n;
    ASSERT_EQ(f.rgb.size(), 320u * 240u * 3u);
    ++n;
  }
  EXPECT_EQ(n, 75);
}

TEST_P(VideoDecode, FrameRangeIsHonoured) {
  DecodeOptions opt;
  opt.start_frame = 10;
  opt.stop_frame = 23;
  auto src = OpenVideo(Fixture("videos/" + GetParam()), opt);
  EXPECT_EQ(src->info().to_deliver, 13);
  Frame f;
  int64_t expect = 10;
  while (src->Next(&f)) {
    ASSERT_EQ(f.index, expect);
    ASSERT_EQ(ReadIndexCode(f), expect);
    ++expect;
  }
  EXPECT_EQ(expect, 23);
}

// The decoder's RGB buffers keep kSwscaleSlack bytes past their end because swscale overruns
// rows: measured here for every input format swscale takes, on narrow frames (the overrun is
// largest on the last row when the width is not a multiple of 16), converted as the decoder
// converts (bicubic, same size, RGB24, tightly packed rows).
TEST(SwscaleOverrun, StaysWithinTheDecodersSlack) {
  size_t worst = 0;
  std::string worst_case;
  int converted = 0;
  for (const AVPixFmtDescriptor* d = av_pix_fmt_desc_next(nullptr); d != nullptr; d = av_pix_fmt_desc_next(d)) {
    const AVPixelFormat format = av_pix_fmt_desc_get_id(d);
    if (!sws_isSupportedInput(format)) continue;
    for (int w = 1; w <= 40; ++w) {
      for (int h = 1; h <= 2; ++h) {
        AVFrame* src = av_frame_alloc();
        src->format = format;
        src->width = w;
        src->height = h;
        SwsContext* sws = sws_getContext(w, h, format, w, h, AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
        if (sws != nullptr && av_frame_get_buffer(src, 0) == 0) {
          for (int p = 0; p < AV_NUM_DATA_POINTERS && src->buf[p] != nullptr; ++p) {
            for (size_t i = 0; i < src->buf[p]->size; ++i) src->buf[p]->data[i] = static_cast<uint8_t>(i * 131 + p);
          }
          const size_t bytes = static_cast<size_t>(w) * h * 3;
          std::vector<uint8_t> dst(bytes + 4 * kSwscaleSlack, 0xA5);
          uint8_t* planes[4] = {dst.data(), nullptr, nullptr, nullptr};
          int strides[4] = {3 * w, 0, 0, 0};
          sws_scale(sws, src->data, src->linesize, 0, h, planes, strides);
          ++converted;
          size_t overrun = 0;
          for (size_t i = bytes; i < dst.size(); ++i) {
            if (dst[i] != 0xA5) overrun = i - bytes + 1;
          }
          if (overrun > worst) {
            worst = overrun;
            worst_case = std::string(d->name) + " " + std::to_string(w) + "x" + std::to_string(h);
          }
        }
        sws_freeContext(sws);
        av_frame_free(&src);
      }
    }
  }
  EXPECT_GT(converted, 1000);
  std::printf("swscale's worst overrun: %zu bytes (%s); slack %zu\n", worst, worst_case.c_str(), kSwscaleSlack);
  EXPECT_LT(worst, kSwscaleSlack) << worst_case;
}

INSTANTIATE_TEST_SUITE_P(Codecs, VideoDecode,
                         ::testing::Values("index_h264.mp4", "index_mpeg4.avi", "index_mjpeg.avi", "index_ffv1.mkv",
                                           "index_h264yuv444.mp4"));

TEST(VideoErrors, MissingFileNamesIt) {
  try {
    OpenVideo("/no/such/video.mp4", DecodeOptions{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
    EXPECT_NE(e.status().message().find("/no/such/video.mp4"), std::string::npos);
  }
}

TEST(VideoErrors, NotAVideoIsCorrupt) {
  for (const char* name : {"not_a_video.mp4", "empty.mp4"}) {
    try {
      OpenVideo(Fixture(name), DecodeOptions{});
      FAIL() << name;
    } catch (const Error& e) {
      EXPECT_EQ(e.status().code(), StatusCode::kCorrupt) << e.what();
      EXPECT_NE(e.status().message().find(name), std::string::npos) << e.what();
    }
  }
}

// ---- Damaged videos (tests/fixtures/make_fixtures.py: write_damaged_videos) ----------------

struct Decoded {
  std::vector<int64_t> indices;  // frame numbers delivered, in order
  std::vector<int> codes;        // the number painted on each of those frames
  StreamEnd end;
};

Decoded DecodeAll(const std::string& rel) {
  Decoded d;
  auto src = OpenVideo(Fixture(rel), DecodeOptions{});
  Frame f;
  while (src->Next(&f)) {
    d.indices.push_back(f.index);
    d.codes.push_back(ReadIndexCode(f));
  }
  d.end = src->End();
  return d;
}

void ExpectStrictlyIncreasing(const Decoded& d, const std::string& name) {
  for (size_t i = 1; i < d.indices.size(); ++i) ASSERT_GT(d.indices[i], d.indices[i - 1]) << name << " at " << i;
}

TEST(DamagedVideo, IntraOnlyLostPacketsLeaveExactGaps) {
  // MJPEG: every frame stands alone, so wiping packets 10, 11 and 40 loses exactly those frames
  // and every other frame keeps its number (no shifted rows).
  Decoded d = DecodeAll("damaged/zeroed_mjpeg.avi");
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 75; ++i)
    if (i != 10 && i != 11 && i != 40) expected.push_back(i);
  EXPECT_EQ(d.indices, expected);
  for (size_t i = 0; i < d.indices.size(); ++i) EXPECT_EQ(d.codes[i], d.indices[i]) << "row " << i;
  EXPECT_EQ(d.end.timeline_end, 75);
  EXPECT_GT(d.end.rejected_packets + d.end.failed_frames, 0);
}

TEST(DamagedVideo, InterCodedLostPacketsKeepTimelineNumbers) {
  // MJPEG: a flipped frame is concealed or lost, its neighbours are untouched.
  Decoded m = DecodeAll("damaged/bitflip_mjpeg.avi");
  for (size_t i = 0; i < m.indices.size(); ++i) {
    const int64_t k = m.indices[i];
    if (k != 10 && k != 11 && k != 40) {
      EXPECT_EQ(m.codes[i], k) << "bitflip_mjpeg.avi row " << i;
    }
  }
  for (const char* name : {"damaged/zeroed_h264.mp4", "damaged/bitflip_h264.mp4", "damaged/bitflip_mjpeg.avi"}) {
    Decoded d = DecodeAll(name);
    ExpectStrictlyIncreasing(d, name);
    ASSERT_FALSE(d.indices.empty()) << name;
    EXPECT_LT(d.indices.back(), 75) << name;
    EXPECT_EQ(d.end.timeline_end, 75) << name;
    // Frames before the damage are intact: each carries its own number. (After it, H.264's
    // concealment errors spread to every later frame of the group of pictures.)
    for (size_t i = 0; i < d.indices.size() && d.indices[i] < 5; ++i) EXPECT_EQ(d.codes[i], d.indices[i]) << name;
  }
}

// The frame numbers (from their timestamps) of the packets at `positions` in file order: what
// wiping those packets of the clean video costs.
std::vector<int64_t> FramesOfPackets(const std::string& path, std::vector<int> positions) {
  AVFormatContext* format = nullptr;
  std::vector<int64_t> frames;
  if (avformat_open_input(&format, path.c_str(), nullptr, nullptr) < 0) return frames;
  avformat_find_stream_info(format, nullptr);
  const int video = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  const AVStream* stream = format->streams[video];
  AVPacket* packet = av_packet_alloc();
  for (int k = 0; av_read_frame(format, packet) >= 0; av_packet_unref(packet)) {
    if (packet->stream_index != video) continue;
    if (std::find(positions.begin(), positions.end(), k++) == positions.end()) continue;
    const double seconds = static_cast<double>(packet->pts - stream->start_time) * av_q2d(stream->time_base);
    frames.push_back(std::llround(seconds * av_q2d(stream->avg_frame_rate)));
  }
  av_packet_free(&packet);
  avformat_close_input(&format);
  std::sort(frames.begin(), frames.end());
  return frames;
}

TEST(DamagedVideo, LostFramesOfInterCodedVideoAreThoseWiped) {
  // H.264 with B-frames: the decoder rejects a wiped packet a few frames before the gap it
  // leaves reaches its output (reordering, frame threads). The gap is still placed exactly:
  // every frame keeps its own number and only the wiped ones are missing.
  const std::vector<int64_t> wiped = FramesOfPackets(Fixture("videos/index_h264.mp4"), {10, 11, 40});
  ASSERT_EQ(wiped.size(), 3u);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 75; ++i)
    if (std::find(wiped.begin(), wiped.end(), i) == wiped.end()) expected.push_back(i);
  Decoded d = DecodeAll("damaged/zeroed_h264.mp4");
  EXPECT_EQ(d.indices, expected);
  EXPECT_EQ(d.end.timeline_end, 75);
  EXPECT_EQ(d.end.rejected_packets, 3);
}

TEST(DamagedVideo, TruncatedFilesDecodeWhatIsThere) {
  for (const char* name : {"damaged/truncated_h264.mp4", "damaged/truncated_mpeg4.avi", "damaged/truncated_ffv1.mkv"}) {
    Decoded d = DecodeAll(name);
    ExpectStrictlyIncreasing(d, name);
    ASSERT_GT(d.indices.size(), 20u) << name;  // about half of the 75 frames survive
    EXPECT_LT(d.indices.size(), 60u) << name;
    for (size_t i = 0; i + 1 < d.indices.size(); ++i) {  // the last one may be cut short
      EXPECT_EQ(d.indices[i], static_cast<int64_t>(i)) << name;
      EXPECT_EQ(d.codes[i], d.indices[i]) << name;
    }
    // The timeline still ends at frame 75: the missing tail is known (and becomes NaN rows).
    EXPECT_EQ(d.end.timeline_end, 75) << name;
  }
}

TEST(DamagedVideo, UnreadableFilesAreErrorsNamingThem) {
  for (const char* name : {"damaged/no_moov.mp4", "not_a_video.mp4", "empty.mp4"}) {
    try {
      OpenVideo(Fixture(name), DecodeOptions{});
      ADD_FAILURE() << name << " opened";
    } catch (const Error& e) {
      EXPECT_EQ(e.status().code(), StatusCode::kCorrupt) << e.what();
      EXPECT_NE(e.status().message().find(name), std::string::npos) << e.what();
    }
  }
}

// ---- Clips cut by stream copy (make_fixtures.py: write_stream_copy_clips; issue 17) ------------

struct StreamCopyClip {
  std::string name;
  int64_t frames = 0;      // frames the ffmpeg CLI decodes, in order
  bool complete = true;    // every frame the container presents decodes (not -copyinkf)
  std::vector<int> codes;  // the index painted on each of them (clips of the index video)
};

std::vector<StreamCopyClip> StreamCopyClips() {
  std::vector<StreamCopyClip> clips;
  std::ifstream in(Fixture("streamcopy/clips.txt"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    StreamCopyClip clip;
    int complete = 0;
    fields >> clip.name >> clip.frames >> complete;
    clip.complete = complete != 0;
    for (int code = 0; fields >> code;) clip.codes.push_back(code);
    clips.push_back(clip);
  }
  return clips;
}

// Their timestamps do not number their frames (edit lists, starts shifted above 0, B-frames at
// the cut's end shown after frames the cut dropped), but every frame decodes: rows are the
// frames in decode order, as OpenCV (and so DeepLabCut) reads them, with no gap and no lost tail.
TEST(StreamCopy, FramesAreNumberedInDecodeOrder) {
  const std::vector<StreamCopyClip> clips = StreamCopyClips();
  ASSERT_EQ(clips.size(), 17u);
  for (const StreamCopyClip& clip : clips) {
    SCOPED_TRACE(clip.name);
    auto src = OpenVideo(Fixture("streamcopy/" + clip.name), DecodeOptions{});
    Frame f;
    int64_t n = 0;
    while (src->Next(&f)) {
      ASSERT_EQ(f.index, n);
      if (!clip.codes.empty()) {
        ASSERT_LT(n, static_cast<int64_t>(clip.codes.size()));
        ASSERT_EQ(ReadIndexCode(f), clip.codes[n]) << "row " << n;
      }
      ++n;
    }
    EXPECT_EQ(n, clip.frames);
    const StreamEnd end = src->End();
    EXPECT_EQ(end.timeline_end, n);
    EXPECT_EQ(end.rejected_packets, 0);
    EXPECT_EQ(end.failed_frames, 0);
    EXPECT_EQ(end.stop_reason, "");
    // Where every frame the container holds decodes, the frames it declares (less those an edit
    // list hides; mkv: the timeline's length once known) are the frames decoded.
    if (clip.complete) {
      EXPECT_EQ(src->info().to_deliver, n);
    }
  }
}

TEST(StreamCopy, FrameRangeCountsFromTheClipsFirstFrame) {
  const std::vector<StreamCopyClip> clips = StreamCopyClips();
  for (const StreamCopyClip& clip : clips) {
    if (clip.codes.empty() || clip.frames < 30) continue;
    SCOPED_TRACE(clip.name);
    DecodeOptions opt;
    opt.start_frame = 10;
    opt.stop_frame = 30;
    auto src = OpenVideo(Fixture("streamcopy/" + clip.name), opt);
    Frame f;
    int64_t expect = 10;
    while (src->Next(&f)) {
      ASSERT_EQ(f.index, expect);
      ASSERT_EQ(ReadIndexCode(f), clip.codes[expect]);
      ++expect;
    }
    EXPECT_EQ(expect, 30);
    EXPECT_EQ(src->End().timeline_end, 30);
  }
}

TEST(Images, FolderInNameOrderWithLabels) {
  auto paths = ListImages(Fixture("images"));
  ASSERT_EQ(paths.size(), 5u);
  EXPECT_NE(paths[4].find("img_04.jpg"), std::string::npos);
  auto src = OpenImages(paths);
  Frame f;
  int n = 0;
  while (src->Next(&f)) {
    EXPECT_EQ(f.index, n);
    EXPECT_EQ(f.label, paths[n]);
    EXPECT_EQ(f.width, n < 3 ? 160 : 128);
    ++n;
  }
  EXPECT_EQ(n, 5);
}

TEST(FloatFormat, MatchesNumpyRepr) {
  // Expected strings are numpy's str(np.float32(v)), as pandas writes float32 columns.
  EXPECT_EQ(FormatFloat32Like(219.7943f), "219.7943");
  EXPECT_EQ(FormatFloat32Like(0.43013963f), "0.43013963");
  EXPECT_EQ(FormatFloat32Like(1.0f), "1.0");
  EXPECT_EQ(FormatFloat32Like(-1.0f), "-1.0");
  EXPECT_EQ(FormatFloat32Like(0.0f), "0.0");
  EXPECT_EQ(FormatFloat32Like(100000.0f), "100000.0");
  EXPECT_EQ(FormatFloat32Like(1e-5f), "1e-05");
  EXPECT_EQ(FormatFloat32Like(1.5e-5f), "1.5e-05");
  EXPECT_EQ(FormatFloat32Like(0.0001f), "1e-04");  // float32 0.0001 is just below 1e-4
  EXPECT_EQ(FormatFloat32Like(123456789.0f), "123456790.0");
  EXPECT_EQ(FormatFloat32Like(1e16f), "1e+16");
  EXPECT_EQ(FormatFloat32Like(std::numeric_limits<float>::quiet_NaN()), "");
}

TEST(Layout, DeepLabCutColumnOrder) {
  ColumnLayout single{"S", {}, {"a", "b"}, {}};
  auto cols = single.Columns();
  ASSERT_EQ(cols.size(), 6u);
  EXPECT_EQ(cols[0], (std::vector<std::string>{"S", "a", "x"}));
  EXPECT_EQ(cols[5], (std::vector<std::string>{"S", "b", "likelihood"}));
  ColumnLayout multi{"S", {"m1", "m2"}, {"a"}, {"u"}};
  cols = multi.Columns();
  ASSERT_EQ(cols.size(), 9u);
  EXPECT_EQ(cols[3], (std::vector<std::string>{"S", "m2", "a", "x"}));
  EXPECT_EQ(cols[6], (std::vector<std::string>{"S", "single", "u", "x"}));
}

}  // namespace
}  // namespace posebatch
