// SPDX-License-Identifier: Apache-2.0
// File: common/stream.h
//
// Pull-based byte streams (ByteReader) and a bounded, thread-safe ChunkPipe
// that turns a push-based producer (an HTTP transfer) into a ByteReader for
// a consumer thread (decompression and unpacking).
#ifndef SYSPGO_COMMON_STREAM_H_
#define SYSPGO_COMMON_STREAM_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"

namespace syspgo {

class ByteReader {
 public:
  virtual ~ByteReader() = default;
  // Reads up to buf.size() bytes; 0 means end of stream.
  virtual Result<size_t> Read(std::span<char> buf) = 0;
};

// Reads until buf is full or the stream ends; returns the bytes read.
Result<size_t> ReadFully(ByteReader& reader, std::span<char> buf);

class StringReader final : public ByteReader {
 public:
  explicit StringReader(std::string_view data) : data_(data) {}
  Result<size_t> Read(std::span<char> buf) override;

 private:
  std::string_view data_;
};

// Reads an fd it does not own.
class FdReader final : public ByteReader {
 public:
  FdReader(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  Result<size_t> Read(std::span<char> buf) override;

 private:
  int fd_;
  std::string name_;
};

// Reads `prefix` first, then the rest of `rest` (which must outlive it).
class PrefixedReader final : public ByteReader {
 public:
  PrefixedReader(std::string prefix, ByteReader* rest) : prefix_(std::move(prefix)), rest_(rest) {}
  Result<size_t> Read(std::span<char> buf) override;

 private:
  std::string prefix_;
  size_t pos_ = 0;
  ByteReader* rest_;
};

// Hashes (sha256) and counts what passes through it from `source`.
class HashingReader final : public ByteReader {
 public:
  explicit HashingReader(ByteReader* source) : source_(source) {}
  Result<size_t> Read(std::span<char> buf) override;
  std::string FinalHex() { return hash_.FinalHex(); }
  uint64_t bytes() const { return bytes_; }

 private:
  ByteReader* source_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
};

// Reads the rest of a stream and drops it; returns the bytes skipped.
Result<uint64_t> Drain(ByteReader& reader);

// A bounded queue of byte chunks between one producer and one consumer.
// Push() blocks while the pipe holds max_bytes; the consumer's Read() blocks
// until data or the end arrives. Either side can stop the other: the producer
// with Close(status) (OK = end of stream), the consumer with Abandon(),
// after which Push() drops data and returns false.
class ChunkPipe final : public ByteReader {
 public:
  explicit ChunkPipe(size_t max_bytes = 16 << 20) : max_bytes_(max_bytes) {}

  // Returns false when the consumer has abandoned the pipe.
  bool Push(std::span<const char> data);
  void Close(Status status);
  void Abandon();

  Result<size_t> Read(std::span<char> buf) override;

 private:
  const size_t max_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;  // guarded by mu_
  size_t head_offset_ = 0;          // guarded by mu_: consumed bytes of front
  size_t buffered_ = 0;             // guarded by mu_
  bool closed_ = false;             // guarded by mu_
  bool abandoned_ = false;          // guarded by mu_
  Status close_status_;             // guarded by mu_
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_STREAM_H_
