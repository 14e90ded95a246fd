// SPDX-License-Identifier: Apache-2.0
// File: common/status.h
//
// Errors are values. A Status is OK or carries a code and a message that names
// the operation and the object it failed on; Result<T> holds a T or a Status.
//
//   Result<UniqueFd> fd = UniqueFd::Open(path, O_RDONLY);
//   if (!fd.ok()) return fd.status();
//   ASSIGN_OR_RETURN(UniqueFd f, UniqueFd::Open(path, O_RDONLY));
//   RETURN_IF_ERROR(WriteAll(f.get(), data));
#ifndef SYSPGO_COMMON_STATUS_H_
#define SYSPGO_COMMON_STATUS_H_

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace syspgo {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kCorruption,   // data failed verification (digest, checksum, format)
  kUnavailable,  // a remote peer failed; a retry may succeed
  kCancelled,
  kUnimplemented,
  kInternal,
  kIo,  // a local system call failed
  kDeadlineExceeded,
  kFailedPrecondition,  // the input is well-formed but belongs elsewhere
  kResourceExhausted,   // the input is larger than a documented limit
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "<code>: <message>" or "OK".
  std::string ToString() const;
  // The same code with "context: " put in front of the message.
  Status WithContext(std::string_view context) const;
  // The errno value recorded by ErrnoStatus, or 0.
  int errno_value() const { return rep_ ? rep_->errno_value : 0; }

  void IgnoreError() const {}

 private:
  friend Status ErrnoStatus(int err, std::string_view operation, std::string_view object);
  struct Rep {
    StatusCode code;
    std::string message;
    int errno_value = 0;
  };
  std::shared_ptr<const Rep> rep_;
};

inline Status InvalidArgument(std::string m) {
  return Status(StatusCode::kInvalidArgument, std::move(m));
}
inline Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
inline Status Corruption(std::string m) { return Status(StatusCode::kCorruption, std::move(m)); }
inline Status AlreadyExists(std::string m) {
  return Status(StatusCode::kAlreadyExists, std::move(m));
}
inline Status Unavailable(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
inline Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
inline Status Cancelled(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
inline Status PermissionDenied(std::string m) {
  return Status(StatusCode::kPermissionDenied, std::move(m));
}
inline Status Unimplemented(std::string m) {
  return Status(StatusCode::kUnimplemented, std::move(m));
}
inline Status DeadlineExceeded(std::string m) {
  return Status(StatusCode::kDeadlineExceeded, std::move(m));
}
inline Status FailedPrecondition(std::string m) {
  return Status(StatusCode::kFailedPrecondition, std::move(m));
}
inline Status ResourceExhausted(std::string m) {
  return Status(StatusCode::kResourceExhausted, std::move(m));
}

// The one place an errno value becomes a message: "<operation> <object>:
// <strerror>". The code follows errno (ENOENT -> kNotFound, EACCES/EPERM ->
// kPermissionDenied, EEXIST -> kAlreadyExists, otherwise kIo).
Status ErrnoStatus(int err, std::string_view operation, std::string_view object = {});

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : value_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(value_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(value_); }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> value_;
};

namespace internal {
inline Status AsStatus(const Status& s) { return s; }
template <typename T>
Status AsStatus(const Result<T>& r) {
  return r.status();
}
}  // namespace internal

}  // namespace syspgo

#define SYSPGO_CONCAT_INNER(a, b) a##b
#define SYSPGO_CONCAT(a, b) SYSPGO_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                                    \
  do {                                                           \
    ::syspgo::Status _st = ::syspgo::internal::AsStatus((expr)); \
    if (!_st.ok()) return _st;                                   \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(SYSPGO_CONCAT(_result_, __LINE__), lhs, expr)

#endif  // SYSPGO_COMMON_STATUS_H_
