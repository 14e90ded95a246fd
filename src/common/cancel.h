// SPDX-License-Identifier: Apache-2.0
// File: common/cancel.h
//
// A cancellation flag shared by the code doing long work and whoever may want
// it to stop (the CLI's signal handling). Checking it is cheap and thread-safe.
#ifndef SYSPGO_COMMON_CANCEL_H_
#define SYSPGO_COMMON_CANCEL_H_

#include <atomic>

namespace syspgo {

class CancelToken {
 public:
  // The token reads `flag`, which the owner (e.g. a signal handler in main)
  // sets; a default token owns its own flag.
  CancelToken() : flag_(&own_) {}
  explicit CancelToken(const std::atomic<bool>* flag) : flag_(flag) {}
  // Cancelled when the parent is, or when Cancel() is called on this token.
  explicit CancelToken(const CancelToken* parent) : flag_(&own_), parent_(parent) {}
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  bool cancelled() const {
    return flag_->load(std::memory_order_relaxed) || (parent_ != nullptr && parent_->cancelled());
  }
  // Only for tokens that own their flag.
  void Cancel() { own_.store(true); }

 private:
  std::atomic<bool> own_{false};
  const std::atomic<bool>* flag_;
  const CancelToken* parent_ = nullptr;
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_CANCEL_H_
