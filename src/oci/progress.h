// SPDX-License-Identifier: Apache-2.0
// File: oci/progress.h
//
// Per-layer pull progress. Workers update counters (atomics); a reporter
// thread redraws one line per layer on a terminal every 200 ms. When stderr
// is not a terminal nothing is drawn.
#ifndef SYSPGO_OCI_PROGRESS_H_
#define SYSPGO_OCI_PROGRESS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace syspgo::oci {

struct LayerProgress {
  enum State { kWaiting, kFetching, kUnpacking, kDone, kCached, kFailed };
  std::string label;  // short digest
  int64_t total = 0;
  std::atomic<int64_t> done{0};
  std::atomic<int> state{kWaiting};
};

class ProgressReporter {
 public:
  // Draws to fd when it is a terminal and enabled is true.
  ProgressReporter(int fd, bool enabled);
  ~ProgressReporter();  // stops the thread and draws the final state
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // The returned object lives as long as the reporter.
  LayerProgress* AddLayer(std::string label, int64_t total);
  void Start();

 private:
  void Draw(bool final);
  int fd_;
  bool active_;
  std::deque<LayerProgress> layers_;  // stable addresses; added before Start()
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
  int drawn_lines_ = 0;  // reporter thread only
  std::chrono::steady_clock::time_point start_;
};

std::string HumanBytes(double bytes);

}  // namespace syspgo::oci

#endif  // SYSPGO_OCI_PROGRESS_H_
