#include "io/video_encoder.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include <cstdio>
#include <filesystem>

#include "posebatch/status.h"

namespace posebatch {
namespace {

std::string AvError(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

}  // namespace

struct VideoEncoder::Impl {
  std::string path, temp;
  VideoEncoderOptions options;
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* packet = nullptr;
  SwsContext* sws = nullptr;
  int64_t frames = 0;
  bool file_open = false;
  bool done = false;
  std::string codec_name, note;

  [[noreturn]] void Fail(const std::string& what, int err = 0) const {
    throw Error(Status::IOError(temp + ": " + what + (err != 0 ? " (" + AvError(err) + ")" : "")));
  }

  void Open() {
    const VideoEncoderOptions& o = options;
    if (o.width <= 0 || o.height <= 0) Fail("bad frame size");
    int err = avformat_alloc_output_context2(&format, nullptr, "mp4", temp.c_str());
    if (err < 0 || format == nullptr) Fail("cannot create an mp4 container", err);
    const AVCodec* encoder = avcodec_find_encoder_by_name("libx264");
    if (encoder == nullptr) {
      encoder = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
      note = "FFmpeg has no libx264 encoder here: the labeled video is MPEG-4 part 2 instead of H.264";
      if (encoder == nullptr) Fail("FFmpeg has neither a libx264 nor an MPEG-4 encoder");
    }
    codec_name = encoder->name;
    stream = avformat_new_stream(format, nullptr);
    codec = avcodec_alloc_context3(encoder);
    if (stream == nullptr || codec == nullptr) Fail("out of memory");
    // yuv420p needs even sizes: an odd width or height gets one more (black) column or row.
    codec->width = (o.width + 1) & ~1;
    codec->height = (o.height + 1) & ~1;
    codec->pix_fmt = AV_PIX_FMT_YUV420P;
    AVRational rate = av_d2q(o.fps > 0 ? o.fps : 30, 100000);
    codec->time_base = av_inv_q(rate);
    codec->framerate = rate;
    codec->gop_size = 250;
    codec->thread_count = o.threads;
    if (format->oformat->flags & AVFMT_GLOBALHEADER) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary* opts = nullptr;
    if (codec_name == "libx264") {
      av_dict_set(&opts, "preset", o.preset.c_str(), 0);
      av_dict_set(&opts, "crf", std::to_string(o.crf).c_str(), 0);
    } else {
      codec->bit_rate = static_cast<int64_t>(codec->width) * codec->height * 4;  // ~ high quality
      codec->qmax = 4;
    }
    err = avcodec_open2(codec, encoder, &opts);
    av_dict_free(&opts);
    if (err < 0) Fail("cannot open the " + codec_name + " encoder", err);
    err = avcodec_parameters_from_context(stream->codecpar, codec);
    if (err < 0) Fail("cannot set the stream parameters", err);
    stream->time_base = codec->time_base;
    stream->avg_frame_rate = rate;
    err = avio_open(&format->pb, temp.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) Fail("cannot create file (is the folder writable?)", err);
    file_open = true;
    err = avformat_write_header(format, nullptr);
    if (err < 0) Fail("cannot write the mp4 header", err);
    frame = av_frame_alloc();
    packet = av_packet_alloc();
    if (frame == nullptr || packet == nullptr) Fail("out of memory");
    frame->format = codec->pix_fmt;
    frame->width = codec->width;
    frame->height = codec->height;
    err = av_frame_get_buffer(frame, 0);
    if (err < 0) Fail("out of memory", err);
    const AVPixelFormat in = o.pixels == EncoderPixels::kRgb24 ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR0;
    // Bicubic, as the decoder's conversion the other way.
    sws = sws_getContext(o.width, o.height, in, o.width, o.height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr,
                         nullptr);
    if (sws == nullptr) Fail("cannot set up the colour conversion");
  }

  // Sends `f` (null: flush) and writes every packet the encoder has ready.
  void Drain(AVFrame* f) {
    int err = avcodec_send_frame(codec, f);
    if (err < 0 && !(f == nullptr && err == AVERROR_EOF)) Fail("encoding failed", err);
    while (true) {
      err = avcodec_receive_packet(codec, packet);
      if (err == AVERROR(EAGAIN) || err == AVERROR_EOF) return;
      if (err < 0) Fail("encoding failed", err);
      av_packet_rescale_ts(packet, codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      err = av_interleaved_write_frame(format, packet);  // takes the packet's reference
      if (err < 0) Fail("cannot write (disk full?)", err);
    }
  }

  void Close() {
    if (sws != nullptr) sws_freeContext(sws);
    sws = nullptr;
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    if (format != nullptr) {
      if (file_open) avio_closep(&format->pb);
      avformat_free_context(format);
    }
    format = nullptr;
    file_open = false;
  }
};

VideoEncoder::VideoEncoder(const std::string& path, const VideoEncoderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->temp = path + ".part";
  impl_->options = options;
  // libx264's statistics lines are info-level; lower the level only (the decoder may have set
  // it quieter: its damage is reported through stop_reason, not FFmpeg's log).
  if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  try {
    impl_->Open();
  } catch (...) {
    Abort();
    throw;
  }
}

VideoEncoder::~VideoEncoder() {
  if (!impl_->done) Abort();
}

void VideoEncoder::Write(const uint8_t* pixels, int stride) {
  Impl& m = *impl_;
  int err = av_frame_make_writable(m.frame);
  if (err < 0) m.Fail("out of memory", err);
  if (m.codec->width != m.options.width || m.codec->height != m.options.height) {
    // Padding of odd sizes: black (Y 16, U/V 128 in limited range).
    for (int p = 0; p < 3; ++p) {
      const int h = p == 0 ? m.codec->height : m.codec->height / 2;
      for (int y = 0; y < h; ++y) {
        std::fill_n(m.frame->data[p] + static_cast<ptrdiff_t>(y) * m.frame->linesize[p], m.frame->linesize[p],
                    p == 0 ? 16 : 128);
      }
    }
  }
  const uint8_t* src[1] = {pixels};
  const int src_stride[1] = {stride};
  sws_scale(m.sws, src, src_stride, 0, m.options.height, m.frame->data, m.frame->linesize);
  m.frame->pts = m.frames++;
  m.Drain(m.frame);
}

void VideoEncoder::Finish() {
  Impl& m = *impl_;
  try {
    m.Drain(nullptr);
    int err = av_write_trailer(m.format);
    if (err < 0) m.Fail("cannot write the mp4 trailer (disk full?)", err);
    err = avio_closep(&m.format->pb);
    m.file_open = false;
    if (err < 0) m.Fail("cannot close (disk full?)", err);
    m.Close();
    std::error_code ec;
    std::filesystem::rename(m.temp, m.path, ec);
    if (ec) m.Fail("cannot rename to " + m.path + " (" + ec.message() + ")");
    m.done = true;
  } catch (...) {
    Abort();
    throw;
  }
}

void VideoEncoder::Abort() noexcept {
  Impl& m = *impl_;
  m.Close();
  std::error_code ec;
  std::filesystem::remove(m.temp, ec);
  m.done = true;
}

const std::string& VideoEncoder::path() const { return impl_->path; }
int64_t VideoEncoder::frames_written() const { return impl_->frames; }
const std::string& VideoEncoder::codec_name() const { return impl_->codec_name; }
const std::string& VideoEncoder::fallback_note() const { return impl_->note; }

}  // namespace posebatch
