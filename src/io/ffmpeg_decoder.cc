#include "io/ffmpeg_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <climits>
#include <cmath>
#include <filesystem>

#include "posebatch/status.h"

namespace posebatch {
namespace {

std::string AvErrorText(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

double RationalOrZero(AVRational r) { return (r.num > 0 && r.den > 0) ? av_q2d(r) : 0.0; }

}  // namespace

FfmpegDecoder::FfmpegDecoder(const std::string& path, int threads) : path_(path) {
  // A constructor that throws runs no destructor: release what Open() got so far (a leak per
  // unreadable file before; found by fuzz_video).
  try {
    Open(threads);
  } catch (...) {
    Release();
    throw;
  }
}

void FfmpegDecoder::Open(int threads) {
  const std::string& path = path_;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw Error(Status::NotFound(path + ": no such file"));
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(Status::InvalidArgument(path + ": is a folder, not a video or image"));
  }
  // FFmpeg would print a line per damaged packet; damage is counted and reported instead.
  av_log_set_level(AV_LOG_QUIET);
  int err = avformat_open_input(&format_, path.c_str(), nullptr, nullptr);
  if (err < 0) {
    format_ = nullptr;
    throw Error(Status::Corrupt(path + ": not a readable video or image (" + AvErrorText(err) + ")"));
  }
  err = avformat_find_stream_info(format_, nullptr);
  if (err < 0) Fail("cannot read stream information", err);
  const AVCodec* codec = nullptr;
  stream_index_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_index_ < 0 || codec == nullptr) throw Error(Status::Corrupt(path + ": no decodable video stream"));
  AVStream* stream = format_->streams[stream_index_];
  codec_ = avcodec_alloc_context3(codec);
  if (codec_ == nullptr) Fail("cannot allocate a decoder", AVERROR(ENOMEM));
  err = avcodec_parameters_to_context(codec_, stream->codecpar);
  if (err < 0) Fail("bad codec parameters", err);
  codec_->thread_count = threads > 0 ? threads : 1;
  codec_->thread_type = FF_THREAD_FRAME;  // frame threading keeps output order
  err = avcodec_open2(codec_, codec, nullptr);
  if (err < 0) Fail("cannot open the decoder", err);
  codec_name_ = codec->name;
  if (codec_->width <= 0 || codec_->height <= 0) {
    Fail("video stream has no frame size", AVERROR_INVALIDDATA);
  }
  fps_ = RationalOrZero(stream->avg_frame_rate);
  if (fps_ == 0) fps_ = RationalOrZero(stream->r_frame_rate);
  time_base_ = RationalOrZero(stream->time_base);
  if (stream->start_time != AV_NOPTS_VALUE) start_ts_ = stream->start_time;
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
    end_ts_ = (start_ts_ != INT64_MIN ? start_ts_ : 0) + stream->duration;
  } else if (format_->duration != AV_NOPTS_VALUE && format_->duration > 0) {
    // Matroska's duration is where the segment ends (its timestamps count from 0), most other
    // formats' the span from the start time: read from 0 where the start is positive, it can
    // only find fewer frames missing at the end, never invent some.
    int64_t end = format_->duration;
    if (format_->start_time != AV_NOPTS_VALUE && format_->start_time < 0) end += format_->start_time;
    end_ts_ = av_rescale_q(end, AVRational{1, AV_TIME_BASE}, stream->time_base);
  }
  if (stream->nb_frames > 0) {
    declared_frames_ = stream->nb_frames;
    frame_count_exact_ = true;
    // nb_frames counts every sample, also those an edit list hides (mp4 cut by stream copy off
    // a keyframe keeps the samples from the keyframe on and starts presenting at the cut): the
    // demuxer marks them in the index, and delivers and the decoder drops them.
    const int entries = avformat_index_get_entries_count(stream);
    for (int i = 0; i < entries; ++i) {
      const AVIndexEntry* entry = avformat_index_get_entry(stream, i);
      if (entry != nullptr && (entry->flags & AVINDEX_DISCARD_FRAME) != 0) ++hidden_frames_;
    }
    hidden_frames_ = std::min(hidden_frames_, declared_frames_);
  } else if (stream->duration > 0 && fps_ > 0) {
    declared_frames_ = static_cast<int64_t>(stream->duration * av_q2d(stream->time_base) * fps_ + 0.5);
  } else if (format_->duration > 0 && fps_ > 0) {
    declared_frames_ = static_cast<int64_t>(format_->duration / double(AV_TIME_BASE) * fps_ + 0.5);
  }
  frame_ = av_frame_alloc();
  packet_ = av_packet_alloc();
  if (frame_ == nullptr || packet_ == nullptr) Fail("out of memory", AVERROR(ENOMEM));
}

FfmpegDecoder::~FfmpegDecoder() { Release(); }

void FfmpegDecoder::Release() noexcept {
  sws_freeContext(sws_);
  sws_ = nullptr;
  av_packet_free(&packet_);
  av_frame_free(&frame_);
  avcodec_free_context(&codec_);
  if (format_ != nullptr) avformat_close_input(&format_);
}

int FfmpegDecoder::width() const { return codec_->width; }
int FfmpegDecoder::height() const { return codec_->height; }

void FfmpegDecoder::Fail(const std::string& what, int av_error) const {
  throw Error(Status::Corrupt(path_ + ": " + what + " (" + AvErrorText(av_error) + ")"));
}

bool FfmpegDecoder::ReceiveFrame() {
  // Damaged data costs frames, not the run: a frame the decoder cannot produce is counted and
  // skipped (its number stays free on the timeline). Only an endless run of failures, which no
  // real video produces, ends decoding.
  constexpr int kMaxConsecutiveFailures = 10000;
  int consecutive_failures = 0;
  while (true) {
    int err = avcodec_receive_frame(codec_, frame_);
    if (err == 0) return true;
    if (err == AVERROR_EOF) {
      finished_ = true;
      return false;
    }
    if (err != AVERROR(EAGAIN)) {
      if (err == AVERROR(ENOMEM)) Fail("decoding failed", err);
      ++failed_frames_;
      if (++consecutive_failures > kMaxConsecutiveFailures) Fail("decoder fails on every frame", err);
      continue;
    }
    if (draining_) {  // EAGAIN while draining should not happen; treat as the end
      finished_ = true;
      return false;
    }
    // The decoder wants input: feed it the next packet of our stream.
    err = av_read_frame(format_, packet_);
    if (err == AVERROR(ENOMEM)) Fail("reading the file failed", err);
    if (err < 0) {
      // The end, or where the file stops making sense (truncated, damaged container): decode
      // what the decoder still holds and stop there.
      if (err != AVERROR_EOF) stop_reason_ = "reading stopped early (" + AvErrorText(err) + ")";
      draining_ = true;
      avcodec_send_packet(codec_, nullptr);
      continue;
    }
    if (packet_->stream_index == stream_index_) {
      ++packets_read_;
      int send = avcodec_send_packet(codec_, packet_);
      if (send == AVERROR(ENOMEM)) {
        av_packet_unref(packet_);
        Fail("decoder rejected data", send);
      } else if (send < 0 && send != AVERROR(EAGAIN)) {
        ++rejected_packets_;  // damaged packet: skip it, keep decoding what follows
      }
    }
    av_packet_unref(packet_);
  }
}

int64_t FfmpegDecoder::FramesBetween(int64_t from_ts, int64_t to_ts) const {
  return std::llround(static_cast<double>(to_ts - from_ts) * time_base_ * fps_);
}

// Frames are numbered by count, as OpenCV (and so DeepLabCut) counts them: the timestamps of a
// clip cut by stream copy do not say where its frames are. Its first packets carry negative or
// shifted timestamps, and where the cut ends inside a group of B-frames the last packets kept
// are frames that are shown after frames that were cut away, so that their timestamps skip one
// or two frame periods at the end (the clip: 153 frames, the last at 154 periods from
// the start). Only damage moves a frame's number past its count: each rejected packet or failed
// frame is a frame that will not come out, and the gap it leaves in the timestamps shows where
// it was. The gap shows up to a few frames later (the decoder's reordering and frame threads
// hold frames back), so a loss waits that long for its gap, and the gap is taken whole (a
// decoder may drop the frames that depend on a lost one without reporting each).
int64_t FfmpegDecoder::TimelineIndex() {
  const int64_t damage = rejected_packets_ + failed_frames_;
  if (damage > damage_seen_) {
    unplaced_losses_ += damage - damage_seen_;
    damage_seen_ = damage;
    frames_since_damage_ = 0;
  } else if (unplaced_losses_ > 0 && ++frames_since_damage_ > 16 + codec_->has_b_frames + codec_->thread_count) {
    unplaced_losses_ = 0;  // damage that cost no frame (the decoder concealed it)
  }
  const int64_t ts = frame_->best_effort_timestamp;
  const bool timed = ts != AV_NOPTS_VALUE && time_base_ > 0 && fps_ > 0;
  int64_t lost_before = 0;
  if (timed && unplaced_losses_ > 0) {
    if (last_ts_ != INT64_MIN) {
      lost_before = FramesBetween(last_ts_, ts) - 1;
    } else if (last_index_ < 0 && start_ts_ != INT64_MIN) {
      lost_before = FramesBetween(start_ts_, ts);  // the first frames of the stream were lost
    }
    lost_before = std::max<int64_t>(lost_before, 0);
    unplaced_losses_ = std::max<int64_t>(unplaced_losses_ - lost_before, 0);
  }
  // The latest timestamp, so that one that goes backwards (reordering glitches) does not make
  // the next look like a jump.
  if (timed && (last_ts_ == INT64_MIN || ts > last_ts_)) last_ts_ = ts;
  last_index_ += 1 + lost_before;
  return last_index_;
}

int64_t FfmpegDecoder::TimelineEnd() const {
  const int64_t next = last_index_ + 1;
  const bool damaged = rejected_packets_ + failed_frames_ > 0 || !stop_reason_.empty() || last_index_ < 0;
  if (frame_count_exact_) {
    // Every packet the index lists was read and the decoder reported no failure: the frames it
    // produced are all the file holds. (Frames it drops silently, such as those before the first
    // keyframe of a clip cut off a keyframe with -copyinkf, are not on the timeline, as with
    // OpenCV.) Else the index's count is trusted: a truncated mp4 or avi reads to a clean end of
    // file, and only the index tells that frames are missing.
    if (!damaged && packets_read_ >= declared_frames_) return next;
    return std::max(next, expected_frames());
  }
  // A count estimated from the duration: measured from the last frame's timestamp, not counted
  // (a clip cut by stream copy has frames missing between its last timestamps, not after them).
  int64_t missing = 0;
  if (end_ts_ != INT64_MIN && last_ts_ != INT64_MIN && time_base_ > 0 && fps_ > 0) {
    missing = FramesBetween(last_ts_, end_ts_) - 1;
  } else if (declared_frames_ >= 0) {
    missing = declared_frames_ - next;
  }
  // The estimate may be a frame off; a shortfall counts unless it is that, or damage explains it.
  if (missing > 1 || (damaged && missing > 0)) return next + missing;
  return next;
}

bool FfmpegDecoder::Next(Frame* frame, int64_t convert_from) {
  if (finished_) return false;
  if (!ReceiveFrame()) return false;
  frame->index = TimelineIndex();
  if ((frame_->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame_->decode_error_flags != 0) {
    if (!concealed_.empty() && concealed_.back().second + 1 == frame->index) {
      concealed_.back().second = frame->index;
    } else {
      concealed_.emplace_back(frame->index, frame->index);
    }
  }
  if (frame->index >= convert_from) ConvertTo(frame);
  av_frame_unref(frame_);
  return true;
}

void FfmpegDecoder::ConvertTo(Frame* frame) {
  const int w = frame_->width, h = frame_->height;
  // Plain bicubic swscale to RGB24: the pixels OpenCV's FFmpeg backend (and so DeepLabCut)
  // produces; accurate_rnd/full_chroma_int would differ.
  sws_ = sws_getCachedContext(sws_, w, h, static_cast<AVPixelFormat>(frame_->format), w, h, AV_PIX_FMT_RGB24,
                              SWS_BICUBIC, nullptr, nullptr, nullptr);
  if (sws_ == nullptr) Fail("unsupported pixel format", AVERROR(EINVAL));
  frame->width = w;
  frame->height = h;
  const size_t bytes = static_cast<size_t>(w) * h * 3;
  if (frame->rgb.capacity() < bytes + kSwscaleSlack) {
    frame->rgb.clear();  // nothing to keep: every byte is rewritten below
    frame->rgb.reserve(bytes + kSwscaleSlack);
  }
  frame->rgb.resize(bytes);
  uint8_t* dst[4] = {frame->rgb.data(), nullptr, nullptr, nullptr};
  int dst_stride[4] = {3 * w, 0, 0, 0};
  sws_scale(sws_, frame_->data, frame_->linesize, 0, h, dst, dst_stride);
}

}  // namespace posebatch
