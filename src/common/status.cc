// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace syspgo {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kInvalidArgument:
      return "invalid argument";
    case StatusCode::kNotFound:
      return "not found";
    case StatusCode::kAlreadyExists:
      return "already exists";
    case StatusCode::kPermissionDenied:
      return "permission denied";
    case StatusCode::kCorruption:
      return "corruption";
    case StatusCode::kUnavailable:
      return "unavailable";
    case StatusCode::kCancelled:
      return "cancelled";
    case StatusCode::kUnimplemented:
      return "unimplemented";
    case StatusCode::kInternal:
      return "internal error";
    case StatusCode::kIo:
      return "I/O error";
    case StatusCode::kDeadlineExceeded:
      return "deadline exceeded";
    case StatusCode::kFailedPrecondition:
      return "failed precondition";
    case StatusCode::kResourceExhausted:
      return "resource exhausted";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string message) {
  if (code != StatusCode::kOk) {
    rep_ = std::make_shared<const Rep>(Rep{code, std::move(message), 0});
  }
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(rep_->code)) + ": " + rep_->message;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status out(rep_->code, std::string(context) + ": " + rep_->message);
  auto rep = std::make_shared<Rep>(*out.rep_);
  rep->errno_value = rep_->errno_value;
  out.rep_ = std::move(rep);
  return out;
}

Status ErrnoStatus(int err, std::string_view operation, std::string_view object) {
  StatusCode code = StatusCode::kIo;
  switch (err) {
    case ENOENT:
      code = StatusCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
      code = StatusCode::kPermissionDenied;
      break;
    case EEXIST:
      code = StatusCode::kAlreadyExists;
      break;
    case EINVAL:
      code = StatusCode::kInvalidArgument;
      break;
    case ECANCELED:
      code = StatusCode::kCancelled;
      break;
    default:
      break;
  }
  std::string message(operation);
  if (!object.empty()) {
    message += " ";
    message += object;
  }
  message += ": ";
  message += std::strerror(err);
  Status status(code, std::move(message));
  auto rep = std::make_shared<Status::Rep>(*status.rep_);
  rep->errno_value = err;
  status.rep_ = std::move(rep);
  return status;
}

}  // namespace syspgo
