// SPDX-License-Identifier: Apache-2.0
#include "oci/compression.h"

#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <vector>

namespace syspgo::oci {
namespace {

constexpr size_t kInBuf = 256 * 1024;
constexpr size_t kOutBuf = 256 * 1024;

class GzipReader final : public ByteReader {
 public:
  explicit GzipReader(ByteReader* source) : source_(source), in_(kInBuf) {
    std::memset(&zs_, 0, sizeof(zs_));
  }
  ~GzipReader() override {
    if (initialized_) inflateEnd(&zs_);
  }
  Status Init() {
    // 15 + 16: gzip wrapper only, with the largest window.
    if (inflateInit2(&zs_, 15 + 16) != Z_OK) return Internal("inflateInit2 failed");
    initialized_ = true;
    return Status::Ok();
  }

  Result<size_t> Read(std::span<char> buf) override {
    if (buf.empty() || done_) return size_t{0};
    zs_.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(buf.size(), 1u << 30));
    while (zs_.avail_out > 0) {
      if (zs_.avail_in == 0) {
        ASSIGN_OR_RETURN(size_t n, source_->Read(in_));
        if (n == 0) {
          if (member_started_) {
            return Corruption("gzip stream is truncated");
          }
          done_ = true;
          break;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
        zs_.avail_in = static_cast<uInt>(n);
      }
      if (!member_started_) {
        // Whatever follows a finished member must be another member; zero
        // padding after the last member (some writers add it) is skipped.
        if (members_ > 0) {
          while (zs_.avail_in > 0 && zs_.next_in[0] == 0) {
            ++zs_.next_in;
            --zs_.avail_in;
          }
          if (zs_.avail_in == 0) continue;
          if (zs_.next_in[0] != 0x1f) {
            return Corruption("trailing garbage after gzip stream");
          }
        }
        member_started_ = true;
      }
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        ++members_;
        member_started_ = false;
        inflateReset(&zs_);
        continue;
      }
      if (rc == Z_BUF_ERROR) continue;  // needs more input
      if (rc != Z_OK) {
        return Corruption(std::string("gzip data is corrupt: ") +
                          (zs_.msg ? zs_.msg : "inflate error"));
      }
    }
    return buf.size() - zs_.avail_out;
  }

 private:
  ByteReader* source_;
  std::vector<char> in_;
  z_stream zs_;
  bool initialized_ = false;
  bool member_started_ = false;
  bool done_ = false;
  int members_ = 0;
};

class ZstdReader final : public ByteReader {
 public:
  explicit ZstdReader(ByteReader* source)
      : source_(source), in_(ZSTD_DStreamInSize()), ds_(ZSTD_createDStream()) {}
  ~ZstdReader() override { ZSTD_freeDStream(ds_); }

  Result<size_t> Read(std::span<char> buf) override {
    if (buf.empty()) return size_t{0};
    ZSTD_outBuffer out{buf.data(), buf.size(), 0};
    while (out.pos == 0) {
      if (input_.pos == input_.size) {
        ASSIGN_OR_RETURN(size_t n, source_->Read(in_));
        if (n == 0) {
          if (frame_open_) return Corruption("zstd stream is truncated");
          return size_t{0};
        }
        input_ = ZSTD_inBuffer{in_.data(), n, 0};
      }
      size_t rc = ZSTD_decompressStream(ds_, &out, &input_);
      if (ZSTD_isError(rc)) {
        return Corruption(std::string("zstd data is corrupt: ") + ZSTD_getErrorName(rc));
      }
      frame_open_ = rc != 0;
    }
    return out.pos;
  }

 private:
  ByteReader* source_;
  std::vector<char> in_;
  ZSTD_DStream* ds_;
  ZSTD_inBuffer input_{nullptr, 0, 0};
  bool frame_open_ = false;
};

class PassThroughReader final : public ByteReader {
 public:
  explicit PassThroughReader(ByteReader* source) : source_(source) {}
  Result<size_t> Read(std::span<char> buf) override { return source_->Read(buf); }

 private:
  ByteReader* source_;
};

class GzipWriter final : public CompressingWriter {
 public:
  explicit GzipWriter(ChunkSink sink) : sink_(std::move(sink)), out_(kOutBuf) {
    std::memset(&zs_, 0, sizeof(zs_));
  }
  ~GzipWriter() override {
    if (initialized_) deflateEnd(&zs_);
  }
  Status Init(int level) {
    if (deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return Internal("deflateInit2 failed");
    }
    initialized_ = true;
    return Status::Ok();
  }
  Status Write(std::span<const char> data) override { return Run(data, Z_NO_FLUSH); }
  Status Finish() override { return Run({}, Z_FINISH); }

 private:
  Status Run(std::span<const char> data, int flush) {
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    zs_.avail_in = static_cast<uInt>(data.size());
    for (;;) {
      zs_.next_out = reinterpret_cast<Bytef*>(out_.data());
      zs_.avail_out = static_cast<uInt>(out_.size());
      int rc = deflate(&zs_, flush);
      if (rc == Z_STREAM_ERROR) return Internal("deflate failed");
      size_t produced = out_.size() - zs_.avail_out;
      if (produced > 0) RETURN_IF_ERROR(sink_({out_.data(), produced}));
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (zs_.avail_in == 0 && zs_.avail_out != 0)) {
        return Status::Ok();
      }
    }
  }
  ChunkSink sink_;
  std::vector<char> out_;
  z_stream zs_;
  bool initialized_ = false;
};

class ZstdWriter final : public CompressingWriter {
 public:
  ZstdWriter(ChunkSink sink, int level)
      : sink_(std::move(sink)), out_(ZSTD_CStreamOutSize()), cs_(ZSTD_createCStream()) {
    ZSTD_initCStream(cs_, level);
  }
  ~ZstdWriter() override { ZSTD_freeCStream(cs_); }
  Status Write(std::span<const char> data) override {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      size_t rc = ZSTD_compressStream(cs_, &out, &in);
      if (ZSTD_isError(rc)) return Internal(ZSTD_getErrorName(rc));
      if (out.pos > 0) RETURN_IF_ERROR(sink_({out_.data(), out.pos}));
    }
    return Status::Ok();
  }
  Status Finish() override {
    for (;;) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      size_t rc = ZSTD_endStream(cs_, &out);
      if (ZSTD_isError(rc)) return Internal(ZSTD_getErrorName(rc));
      if (out.pos > 0) RETURN_IF_ERROR(sink_({out_.data(), out.pos}));
      if (rc == 0) return Status::Ok();
    }
  }

 private:
  ChunkSink sink_;
  std::vector<char> out_;
  ZSTD_CStream* cs_;
};

class PlainWriter final : public CompressingWriter {
 public:
  explicit PlainWriter(ChunkSink sink) : sink_(std::move(sink)) {}
  Status Write(std::span<const char> data) override { return sink_(data); }
  Status Finish() override { return Status::Ok(); }

 private:
  ChunkSink sink_;
};

}  // namespace

Compression SniffCompression(std::span<const char> head) {
  auto b = [&](size_t i) { return static_cast<unsigned char>(head[i]); };
  if (head.size() >= 2 && b(0) == 0x1f && b(1) == 0x8b) return Compression::kGzip;
  if (head.size() >= 4 && b(0) == 0x28 && b(1) == 0xb5 && b(2) == 0x2f && b(3) == 0xfd) {
    return Compression::kZstd;
  }
  return Compression::kNone;
}

Result<std::unique_ptr<ByteReader>> NewDecompressingReader(Compression compression,
                                                           ByteReader* source) {
  switch (compression) {
    case Compression::kGzip: {
      auto r = std::make_unique<GzipReader>(source);
      RETURN_IF_ERROR(r->Init());
      return std::unique_ptr<ByteReader>(std::move(r));
    }
    case Compression::kZstd:
      return std::unique_ptr<ByteReader>(std::make_unique<ZstdReader>(source));
    case Compression::kNone:
      return std::unique_ptr<ByteReader>(std::make_unique<PassThroughReader>(source));
  }
  return Internal("unknown compression");
}

Result<std::unique_ptr<CompressingWriter>> NewCompressingWriter(Compression compression,
                                                                ChunkSink sink, int level) {
  switch (compression) {
    case Compression::kGzip: {
      auto w = std::make_unique<GzipWriter>(std::move(sink));
      RETURN_IF_ERROR(w->Init(level == 0 ? 6 : level));
      return std::unique_ptr<CompressingWriter>(std::move(w));
    }
    case Compression::kZstd:
      return std::unique_ptr<CompressingWriter>(
          std::make_unique<ZstdWriter>(std::move(sink), level == 0 ? 3 : level));
    case Compression::kNone:
      return std::unique_ptr<CompressingWriter>(std::make_unique<PlainWriter>(std::move(sink)));
  }
  return Internal("unknown compression");
}

}  // namespace syspgo::oci
