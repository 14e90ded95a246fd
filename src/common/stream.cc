// SPDX-License-Identifier: Apache-2.0
#include "common/stream.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace syspgo {

Result<size_t> ReadFully(ByteReader& reader, std::span<char> buf) {
  size_t done = 0;
  while (done < buf.size()) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(buf.subspan(done)));
    if (n == 0) break;
    done += n;
  }
  return done;
}

Result<size_t> StringReader::Read(std::span<char> buf) {
  size_t n = std::min(buf.size(), data_.size());
  std::memcpy(buf.data(), data_.data(), n);
  data_.remove_prefix(n);
  return n;
}

Result<size_t> FdReader::Read(std::span<char> buf) {
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus(errno, "read", name_);
  }
}

bool ChunkPipe::Push(std::span<const char> data) {
  if (data.empty()) return true;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return abandoned_ || buffered_ < max_bytes_; });
  if (abandoned_) return false;
  chunks_.emplace_back(data.data(), data.size());
  buffered_ += data.size();
  cv_.notify_all();
  return true;
}

void ChunkPipe::Close(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  close_status_ = std::move(status);
  cv_.notify_all();
}

void ChunkPipe::Abandon() {
  std::lock_guard<std::mutex> lock(mu_);
  abandoned_ = true;
  chunks_.clear();
  buffered_ = 0;
  cv_.notify_all();
}

Result<size_t> ChunkPipe::Read(std::span<char> buf) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !chunks_.empty() || closed_; });
  if (chunks_.empty()) {
    if (!close_status_.ok()) return close_status_;
    return size_t{0};
  }
  size_t done = 0;
  while (done < buf.size() && !chunks_.empty()) {
    std::string& front = chunks_.front();
    size_t n = std::min(buf.size() - done, front.size() - head_offset_);
    std::memcpy(buf.data() + done, front.data() + head_offset_, n);
    done += n;
    head_offset_ += n;
    if (head_offset_ == front.size()) {
      buffered_ -= front.size();
      chunks_.pop_front();
      head_offset_ = 0;
    }
  }
  cv_.notify_all();
  return done;
}

Result<size_t> PrefixedReader::Read(std::span<char> buf) {
  if (pos_ < prefix_.size()) {
    size_t n = std::min(buf.size(), prefix_.size() - pos_);
    std::memcpy(buf.data(), prefix_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  return rest_->Read(buf);
}

Result<size_t> HashingReader::Read(std::span<char> buf) {
  ASSIGN_OR_RETURN(size_t n, source_->Read(buf));
  hash_.Update(buf.data(), n);
  bytes_ += n;
  return n;
}

Result<uint64_t> Drain(ByteReader& reader) {
  std::vector<char> buf(64 * 1024);
  uint64_t total = 0;
  for (;;) {
    ASSIGN_OR_RETURN(size_t n, reader.Read(buf));
    if (n == 0) return total;
    total += n;
  }
}

}  // namespace syspgo
