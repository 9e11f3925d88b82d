#include "io/ffmpeg_decoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

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
  if (stream->start_time != AV_NOPTS_VALUE) origin_ts_ = stream->start_time;
  if (stream->nb_frames > 0) {
    declared_frames_ = stream->nb_frames;
    frame_count_exact_ = true;
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

int64_t FfmpegDecoder::TimelineIndex() {
  const int64_t ts = frame_->best_effort_timestamp;
  int64_t index = last_index_ + 1;  // no usable timestamp: count
  if (ts != AV_NOPTS_VALUE && time_base_ > 0 && fps_ > 0) {
    // Frame 0 is at the stream's start time; a stream whose first frames were lost starts
    // later, one whose start time is unknown (or wrong) starts at its first frame.
    if (origin_ts_ == INT64_MIN || (last_index_ < 0 && ts < origin_ts_)) origin_ts_ = ts;
    const double t = static_cast<double>(ts - origin_ts_) * time_base_;
    const int64_t placed = std::llround(t * fps_);
    // Timestamps that go backwards or repeat (jitter, reordering glitches) never overwrite a
    // row: such a frame takes the next number.
    if (placed > last_index_) index = placed;
  }
  last_index_ = index;
  return index;
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
  sws_ = sws_getCachedContext(sws_, w, h, static_cast<AVPixelFormat>(frame_->format), w, h,
                              AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
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
