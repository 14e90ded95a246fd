// SPDX-License-Identifier: Apache-2.0
#include "rtimage/layer_index.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "common/byte_codec.h"

namespace syspgo::rtimage {
namespace {

constexpr FileFrame kFrame{"SPGOIDX\n", kIndexVersion, "checkpoint index"};
constexpr size_t kInputBuffer = 256 << 10;
constexpr int kGzipWindowBits = 15 + 16;  // gzip header and trailer
constexpr int kRawWindowBits = -15;       // bare deflate

std::string ZlibMessage(const z_stream& strm, int ret) {
  return strm.msg != nullptr ? strm.msg : ("zlib error " + std::to_string(ret));
}

// The last 32 KiB of a stream's output.
class WindowRing {
 public:
  void Add(const char* data, size_t n) {
    if (n >= kWindowSize) {
      std::memcpy(ring_, data + n - kWindowSize, kWindowSize);
      pos_ = 0;
      filled_ = kWindowSize;
      return;
    }
    size_t first = std::min(n, kWindowSize - pos_);
    std::memcpy(ring_ + pos_, data, first);
    std::memcpy(ring_, data + first, n - first);
    pos_ = (pos_ + n) % kWindowSize;
    filled_ = std::min(kWindowSize, filled_ + n);
  }
  std::string Contents() const {
    std::string out;
    out.reserve(filled_);
    if (filled_ < kWindowSize) {
      out.append(ring_, filled_);
    } else {
      out.append(ring_ + pos_, kWindowSize - pos_);
      out.append(ring_, pos_);
    }
    return out;
  }

 private:
  char ring_[kWindowSize];
  size_t pos_ = 0;
  size_t filled_ = 0;
};

}  // namespace

// The decompressor behind IndexingReader; one subclass per compression.
struct IndexingReader::Impl {
  Impl(ByteReader* reader, uint64_t span_bytes) : source(reader), span(span_bytes) {}
  virtual ~Impl() = default;
  virtual Result<size_t> Read(std::span<char> buf) = 0;

  // Refills `input` when it is empty; false at the end of the source.
  Result<bool> Refill() {
    if (input_pos < input.size()) return true;
    input.resize(kInputBuffer);
    ASSIGN_OR_RETURN(size_t n, source->Read(std::span<char>(input.data(), input.size())));
    input.resize(n);
    input_pos = 0;
    return n > 0;
  }
  bool WantPoint() const {
    return index.points.empty() || total_out - index.points.back().out >= span;
  }

  ByteReader* source;
  uint64_t span;
  std::string input;
  size_t input_pos = 0;
  uint64_t total_in = 0;   // compressed bytes consumed
  uint64_t total_out = 0;  // uncompressed bytes produced
  bool done = false;
  LayerIndex index;
};

namespace {

class PlainImpl final : public IndexingReader::Impl {
 public:
  using Impl::Impl;
  Result<size_t> Read(std::span<char> buf) override {
    ASSIGN_OR_RETURN(size_t n, source->Read(buf));
    total_in += n;
    total_out += n;
    if (n == 0) done = true;
    return n;
  }
};

class GzipImpl final : public IndexingReader::Impl {
 public:
  GzipImpl(ByteReader* reader, uint64_t span_bytes) : Impl(reader, span_bytes) {
    index.access = LayerAccess::kGzipCheckpoints;
  }
  ~GzipImpl() override {
    if (initialized_) inflateEnd(&strm_);
  }
  Status Init() {
    if (inflateInit2(&strm_, kGzipWindowBits) != Z_OK) return Internal("inflateInit2 failed");
    initialized_ = true;
    index.points.push_back({0, 0, 0, true, {}});
    return Status::Ok();
  }

  Result<size_t> Read(std::span<char> buf) override {
    size_t produced = 0;
    while (produced < buf.size() && !done) {
      ASSIGN_OR_RETURN(bool more, Refill());
      if (!more) {
        if (in_member_) return Corruption("gzip layer is truncated");
        done = true;
        break;
      }
      if (!in_member_) {
        // A further gzip member starts here.
        if (WantPoint()) index.points.push_back({total_out, total_in, 0, true, {}});
        if (inflateReset2(&strm_, kGzipWindowBits) != Z_OK) return Internal("inflateReset2 failed");
        in_member_ = true;
      }
      strm_.next_in = reinterpret_cast<Bytef*>(input.data() + input_pos);
      strm_.avail_in = static_cast<uInt>(input.size() - input_pos);
      strm_.next_out = reinterpret_cast<Bytef*>(buf.data() + produced);
      strm_.avail_out = static_cast<uInt>(buf.size() - produced);
      uInt avail_in_before = strm_.avail_in;
      uInt avail_out_before = strm_.avail_out;
      int ret = inflate(&strm_, Z_BLOCK);
      size_t used = avail_in_before - strm_.avail_in;
      size_t made = avail_out_before - strm_.avail_out;
      window_.Add(buf.data() + produced, made);
      input_pos += used;
      total_in += used;
      total_out += made;
      produced += made;
      if (ret == Z_STREAM_END) {
        in_member_ = false;
        continue;
      }
      if (ret == Z_BUF_ERROR && (used > 0 || made > 0 || strm_.avail_in == 0)) continue;
      if (ret != Z_OK) return Corruption("gzip layer is corrupt: " + ZlibMessage(strm_, ret));
      // At a block boundary that is not the stream's last block: a point.
      if ((strm_.data_type & 128) && !(strm_.data_type & 64) && total_out > 0 && WantPoint()) {
        index.points.push_back({total_out, total_in, static_cast<uint8_t>(strm_.data_type & 7),
                                false, window_.Contents()});
      }
    }
    return produced;
  }

 private:
  z_stream strm_{};
  bool initialized_ = false;
  bool in_member_ = true;
  WindowRing window_;
};

class ZstdImpl final : public IndexingReader::Impl {
 public:
  ZstdImpl(ByteReader* reader, uint64_t span_bytes)
      : Impl(reader, span_bytes), dctx_(ZSTD_createDCtx()) {}
  ~ZstdImpl() override { ZSTD_freeDCtx(dctx_); }

  Result<size_t> Read(std::span<char> buf) override {
    if (dctx_ == nullptr) return Internal("ZSTD_createDCtx failed");
    ZSTD_outBuffer out{buf.data(), buf.size(), 0};
    while (out.pos < out.size && !done) {
      ASSIGN_OR_RETURN(bool more, Refill());
      if (!more) {
        if (in_frame_) return Corruption("zstd layer is truncated");
        done = true;
        break;
      }
      if (!in_frame_) {
        if (WantPoint() || index.points.empty())
          index.points.push_back({total_out, total_in, 0, true, {}});
        in_frame_ = true;
      }
      ZSTD_inBuffer in{input.data() + input_pos, input.size() - input_pos, 0};
      size_t out_before = out.pos;
      size_t ret = ZSTD_decompressStream(dctx_, &out, &in);
      if (ZSTD_isError(ret)) {
        return Corruption(std::string("zstd layer is corrupt: ") + ZSTD_getErrorName(ret));
      }
      input_pos += in.pos;
      total_in += in.pos;
      total_out += out.pos - out_before;
      if (ret == 0) in_frame_ = false;
    }
    return out.pos;
  }

 private:
  ZSTD_DCtx* dctx_;
  bool in_frame_ = false;
};

Status ValidatePoints(const LayerIndex& l, const LeDecoder& d) {
  if (l.access > LayerAccess::kWholeFetch) return d.Bad("unknown access kind");
  if (l.access == LayerAccess::kUncompressed) {
    if (!l.points.empty() || l.compressed_size != l.uncompressed_size) {
      return d.Bad("uncompressed layer with access points or two sizes");
    }
    return Status::Ok();
  }
  if (l.access != LayerAccess::kWholeFetch && (l.points.empty() || l.points[0].out != 0 ||
                                               l.points[0].in != 0 || !l.points[0].member_start)) {
    return d.Bad("the first access point is not the stream start");
  }
  for (size_t i = 0; i < l.points.size(); ++i) {
    const AccessPoint& p = l.points[i];
    if (p.out > l.uncompressed_size || p.in > l.compressed_size || p.bits > 7 ||
        (p.bits > 0 && p.in == 0) || p.window.size() > kWindowSize || p.window.size() > p.out ||
        (p.member_start && (p.bits != 0 || !p.window.empty()))) {
      return d.Bad("access point " + std::to_string(i) + " is malformed");
    }
    if (l.access == LayerAccess::kGzipCheckpoints && !p.member_start &&
        p.window.size() != std::min<uint64_t>(kWindowSize, p.out)) {
      return d.Bad("access point " + std::to_string(i) + " has a short window");
    }
    if (i > 0 && (p.out < l.points[i - 1].out || p.in <= l.points[i - 1].in)) {
      return d.Bad("access points out of order");
    }
  }
  return Status::Ok();
}

// Feeds `compressed` through a decompressor and keeps [want_begin, want_end)
// of the output, which starts at stream offset `pos`.
class RangeCollector {
 public:
  RangeCollector(uint64_t pos, uint64_t want_begin, uint64_t want_end)
      : pos_(pos), begin_(want_begin), end_(want_end) {
    out_.reserve(want_end - want_begin);
  }
  void Add(const char* data, size_t n) {
    uint64_t lo = std::max(pos_, begin_);
    uint64_t hi = std::min(pos_ + n, end_);
    if (lo < hi) out_.append(data + (lo - pos_), hi - lo);
    pos_ += n;
  }
  bool Full() const { return pos_ >= end_; }
  std::string Take() { return std::move(out_); }

 private:
  uint64_t pos_;
  uint64_t begin_;
  uint64_t end_;
  std::string out_;
};

Status InflateRange(const AccessPoint& start, bool from_start, std::string_view compressed,
                    RangeCollector* collector) {
  z_stream strm{};
  bool raw = !from_start && !start.member_start;
  if (inflateInit2(&strm, raw ? kRawWindowBits : kGzipWindowBits) != Z_OK) {
    return Internal("inflateInit2 failed");
  }
  struct Ender {
    z_stream* s;
    ~Ender() { inflateEnd(s); }
  } ender{&strm};
  if (raw) {
    if (start.bits > 0) {
      if (compressed.empty()) return Corruption("compressed range is empty");
      int byte = static_cast<uint8_t>(compressed[0]);
      inflatePrime(&strm, start.bits, byte >> (8 - start.bits));
      compressed.remove_prefix(1);
    }
    if (!start.window.empty() &&
        inflateSetDictionary(&strm, reinterpret_cast<const Bytef*>(start.window.data()),
                             static_cast<uInt>(start.window.size())) != Z_OK) {
      return Corruption("checkpoint window rejected by inflate");
    }
  }
  std::string scratch(256 << 10, '\0');
  while (!collector->Full()) {
    if (compressed.empty()) return Corruption("compressed range ended before the wanted bytes");
    strm.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    strm.avail_in = static_cast<uInt>(std::min<size_t>(compressed.size(), 1u << 30));
    strm.next_out = reinterpret_cast<Bytef*>(scratch.data());
    strm.avail_out = static_cast<uInt>(scratch.size());
    uInt in_before = strm.avail_in;
    int ret = inflate(&strm, Z_NO_FLUSH);
    compressed.remove_prefix(in_before - strm.avail_in);
    collector->Add(scratch.data(), scratch.size() - strm.avail_out);
    if (ret == Z_STREAM_END) {
      if (collector->Full()) break;
      // The member ended: skip a raw stream's trailer, then read the next
      // member with its header.
      if (raw) {
        if (compressed.size() < 8) return Corruption("gzip member trailer is truncated");
        compressed.remove_prefix(8);
        raw = false;
      }
      if (inflateReset2(&strm, kGzipWindowBits) != Z_OK) return Internal("inflateReset2 failed");
      continue;
    }
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      return Corruption("gzip range is corrupt: " + ZlibMessage(strm, ret));
    }
    if (ret == Z_BUF_ERROR && strm.avail_in == 0 && compressed.empty()) {
      return Corruption("compressed range ended before the wanted bytes");
    }
  }
  return Status::Ok();
}

Status ZstdRange(std::string_view compressed, RangeCollector* collector) {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (dctx == nullptr) return Internal("ZSTD_createDCtx failed");
  struct Freer {
    ZSTD_DCtx* d;
    ~Freer() { ZSTD_freeDCtx(d); }
  } freer{dctx};
  std::string scratch(256 << 10, '\0');
  ZSTD_inBuffer in{compressed.data(), compressed.size(), 0};
  while (!collector->Full()) {
    ZSTD_outBuffer out{scratch.data(), scratch.size(), 0};
    size_t in_before = in.pos;
    size_t ret = ZSTD_decompressStream(dctx, &out, &in);
    if (ZSTD_isError(ret)) {
      return Corruption(std::string("zstd range is corrupt: ") + ZSTD_getErrorName(ret));
    }
    collector->Add(scratch.data(), out.pos);
    if (in.pos == in_before && out.pos == 0) {
      return Corruption("compressed range ended before the wanted bytes");
    }
  }
  return Status::Ok();
}

}  // namespace

IndexingReader::IndexingReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IndexingReader::~IndexingReader() = default;

Result<std::unique_ptr<IndexingReader>> IndexingReader::Create(StreamCompression compression,
                                                               ByteReader* source, uint64_t span) {
  if (span == 0) return InvalidArgument("checkpoint span must be positive");
  std::unique_ptr<Impl> impl;
  switch (compression) {
    case StreamCompression::kNone:
      impl = std::make_unique<PlainImpl>(source, span);
      impl->index.access = LayerAccess::kUncompressed;
      break;
    case StreamCompression::kGzip: {
      auto gzip = std::make_unique<GzipImpl>(source, span);
      RETURN_IF_ERROR(gzip->Init());
      impl = std::move(gzip);
      break;
    }
    case StreamCompression::kZstd:
      impl = std::make_unique<ZstdImpl>(source, span);
      impl->index.access = LayerAccess::kZstdFrames;
      break;
  }
  return std::unique_ptr<IndexingReader>(new IndexingReader(std::move(impl)));
}

Result<size_t> IndexingReader::Read(std::span<char> buf) {
  if (impl_->done || buf.empty()) return size_t{0};
  return impl_->Read(buf);
}

Result<LayerIndex> IndexingReader::TakeIndex() {
  if (!impl_->done) return Internal("layer index taken before the end of the stream");
  // Bytes after the compressed stream would be unreachable through the index.
  ASSIGN_OR_RETURN(bool trailing, impl_->Refill());
  if (trailing) return Corruption("data after the end of the compressed layer");
  LayerIndex index = std::move(impl_->index);
  index.compressed_size = impl_->total_in;
  index.uncompressed_size = impl_->total_out;
  if (index.access == LayerAccess::kZstdFrames && index.points.size() <= 1) {
    index.access = LayerAccess::kWholeFetch;
  }
  return index;
}

std::string EncodeLayerIndexes(const std::vector<LayerIndex>& layers) {
  LeEncoder w = BeginFrame(kFrame);
  w.U32(static_cast<uint32_t>(layers.size()));
  for (const LayerIndex& l : layers) {
    w.U8(static_cast<uint8_t>(l.access));
    w.U64(l.compressed_size);
    w.U64(l.uncompressed_size);
    w.U32(static_cast<uint32_t>(l.points.size()));
    for (const AccessPoint& p : l.points) {
      w.U64(p.out);
      w.U64(p.in);
      w.U8(p.bits);
      w.U8(p.member_start ? 1 : 0);
      w.U32(static_cast<uint32_t>(p.window.size()));
      std::string packed;
      if (!p.window.empty()) {
        uLongf packed_size = compressBound(static_cast<uLong>(p.window.size()));
        packed.resize(packed_size);
        compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size,
                  reinterpret_cast<const Bytef*>(p.window.data()),
                  static_cast<uLong>(p.window.size()), 6);
        packed.resize(packed_size);
      }
      w.Str(packed);
    }
  }
  return EndFrame(w);
}

Result<std::vector<LayerIndex>> DecodeLayerIndexes(std::string_view data) {
  ASSIGN_OR_RETURN(LeDecoder d, OpenFrame(data, kFrame));
  uint32_t nlayers = 0;
  RETURN_IF_ERROR(d.Count(&nlayers, 21, "layer"));
  std::vector<LayerIndex> layers(nlayers);
  for (LayerIndex& l : layers) {
    uint8_t access = 0;
    RETURN_IF_ERROR(d.U8(&access));
    l.access = static_cast<LayerAccess>(access);
    RETURN_IF_ERROR(d.U64(&l.compressed_size));
    RETURN_IF_ERROR(d.U64(&l.uncompressed_size));
    uint32_t npoints = 0;
    RETURN_IF_ERROR(d.Count(&npoints, 26, "access point"));
    l.points.resize(npoints);
    for (AccessPoint& p : l.points) {
      uint8_t member = 0;
      uint32_t window_size = 0;
      std::string packed;
      RETURN_IF_ERROR(d.U64(&p.out));
      RETURN_IF_ERROR(d.U64(&p.in));
      RETURN_IF_ERROR(d.U8(&p.bits));
      RETURN_IF_ERROR(d.U8(&member));
      RETURN_IF_ERROR(d.U32(&window_size));
      RETURN_IF_ERROR(d.Str(&packed));
      if (member > 1 || window_size > kWindowSize) return d.Bad("access point is malformed");
      p.member_start = member == 1;
      if (window_size > 0) {
        p.window.resize(window_size);
        uLongf got = window_size;
        int ret = uncompress(reinterpret_cast<Bytef*>(p.window.data()), &got,
                             reinterpret_cast<const Bytef*>(packed.data()),
                             static_cast<uLong>(packed.size()));
        if (ret != Z_OK || got != window_size) return d.Bad("checkpoint window does not inflate");
      } else if (!packed.empty()) {
        return d.Bad("empty window with data");
      }
    }
    RETURN_IF_ERROR(ValidatePoints(l, d));
  }
  if (d.left() != 0) return d.Bad("trailing bytes");
  return layers;
}

Result<RangePlan> PlanRange(const LayerIndex& index, uint64_t offset, uint64_t length) {
  if (offset > index.uncompressed_size || index.uncompressed_size - offset < length) {
    return InvalidArgument("range " + std::to_string(offset) + "+" + std::to_string(length) +
                           " is beyond the layer's " + std::to_string(index.uncompressed_size) +
                           " bytes");
  }
  RangePlan plan;
  if (index.access == LayerAccess::kUncompressed) {
    plan.compressed_begin = offset;
    plan.compressed_end = offset + length;
    return plan;
  }
  if (index.access == LayerAccess::kWholeFetch || index.points.empty()) {
    plan.from_start = true;
    plan.compressed_end = index.compressed_size;
    return plan;
  }
  auto after = std::upper_bound(index.points.begin(), index.points.end(), offset,
                                [](uint64_t o, const AccessPoint& p) { return o < p.out; });
  plan.point = static_cast<size_t>(after - index.points.begin()) - 1;  // points[0].out == 0
  const AccessPoint& start = index.points[plan.point];
  plan.compressed_begin = start.in - (start.bits > 0 ? 1 : 0);
  plan.compressed_end = index.compressed_size;
  for (auto it = after; it != index.points.end(); ++it) {
    if (it->out >= offset + length) {
      plan.compressed_end = it->in;
      break;
    }
  }
  return plan;
}

Result<std::string> ExtractRange(const LayerIndex& index, const RangePlan& plan,
                                 std::string_view compressed, uint64_t offset, uint64_t length) {
  if (compressed.size() != plan.compressed_end - plan.compressed_begin) {
    return InvalidArgument("compressed range has " + std::to_string(compressed.size()) +
                           " bytes, the plan asked for " +
                           std::to_string(plan.compressed_end - plan.compressed_begin));
  }
  if (length == 0) return std::string();
  if (index.access == LayerAccess::kUncompressed) return std::string(compressed);
  uint64_t start_out = plan.from_start ? 0 : index.points.at(plan.point).out;
  RangeCollector collector(start_out, offset, offset + length);
  if (index.access == LayerAccess::kGzipCheckpoints) {
    static const AccessPoint kStreamStart{0, 0, 0, true, {}};
    const AccessPoint& start = plan.from_start ? kStreamStart : index.points.at(plan.point);
    RETURN_IF_ERROR(InflateRange(start, plan.from_start, compressed, &collector));
  } else {
    RETURN_IF_ERROR(ZstdRange(compressed, &collector));
  }
  return collector.Take();
}

}  // namespace syspgo::rtimage
