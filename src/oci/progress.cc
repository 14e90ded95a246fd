// SPDX-License-Identifier: Apache-2.0
#include "oci/progress.h"

#include <unistd.h>

#include <cstdio>

namespace syspgo::oci {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

ProgressReporter::ProgressReporter(int fd, bool enabled)
    : fd_(fd), active_(enabled && ::isatty(fd) == 1) {}

ProgressReporter::~ProgressReporter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  Draw(true);
}

LayerProgress* ProgressReporter::AddLayer(std::string label, int64_t total) {
  layers_.emplace_back();
  layers_.back().label = std::move(label);
  layers_.back().total = total;
  return &layers_.back();
}

void ProgressReporter::Start() {
  if (!active_ || layers_.empty()) return;
  start_ = std::chrono::steady_clock::now();
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      Draw(false);
      lock.lock();
      cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_; });
    }
  });
}

void ProgressReporter::Draw(bool final) {
  std::string out;
  if (drawn_lines_ > 0) out += "\x1b[" + std::to_string(drawn_lines_) + "A";
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  for (const LayerProgress& l : layers_) {
    int64_t done = l.done.load();
    const char* state = "waiting";
    switch (l.state.load()) {
      case LayerProgress::kFetching:
        state = "fetching";
        break;
      case LayerProgress::kUnpacking:
        state = "unpacking";
        break;
      case LayerProgress::kDone:
        state = "done";
        break;
      case LayerProgress::kCached:
        state = "cached";
        break;
      case LayerProgress::kFailed:
        state = "failed";
        break;
      default:
        break;
    }
    char line[160];
    std::snprintf(line, sizeof(line), "\x1b[2K%-14s %-9s %10s / %-10s %10s/s\n", l.label.c_str(),
                  state, HumanBytes(static_cast<double>(done)).c_str(),
                  HumanBytes(static_cast<double>(l.total)).c_str(),
                  HumanBytes(elapsed > 0 ? static_cast<double>(done) / elapsed : 0).c_str());
    out += line;
  }
  drawn_lines_ = static_cast<int>(layers_.size());
  (void) final;
  ssize_t ignored = ::write(fd_, out.data(), out.size());
  (void)ignored;
}

}  // namespace syspgo::oci
