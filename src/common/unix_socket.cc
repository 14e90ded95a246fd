// SPDX-License-Identifier: Apache-2.0
#include "common/unix_socket.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "common/file_util.h"

namespace syspgo {

Result<UnixAddress> UnixSocketAddress(const std::string& path) {
  UnixAddress a;
  a.addr.sun_family = AF_UNIX;
  std::string target = path;
  if (path.size() >= sizeof(a.addr.sun_path)) {
    ASSIGN_OR_RETURN(a.dir, UniqueFd::Open(DirName(path), O_PATH | O_DIRECTORY));
    target = "/proc/self/fd/" + std::to_string(a.dir.get()) + "/" + BaseName(path);
  }
  if (target.size() >= sizeof(a.addr.sun_path)) {
    return InvalidArgument("socket path too long: " + path);
  }
  std::memcpy(a.addr.sun_path, target.c_str(), target.size() + 1);
  return a;
}

Result<PrivateSocketPlace> PrivateSocketPlace::Make(const std::string& path) {
  PrivateSocketPlace p;
  p.path_ = path;
  std::string templ = JoinPath(DirName(path), ".sock-XXXXXX");
  // mkdtemp makes it 0700: no one else may enter it, whatever the umask.
  if (::mkdtemp(templ.data()) == nullptr) return ErrnoStatus(errno, "mkdtemp", templ);
  p.dir_ = templ;
  p.bind_path_ = JoinPath(templ, "s");
  return p;
}

PrivateSocketPlace::~PrivateSocketPlace() { Remove(); }

PrivateSocketPlace::PrivateSocketPlace(PrivateSocketPlace&& other) noexcept
    : path_(std::move(other.path_)),
      dir_(std::exchange(other.dir_, std::string())),
      bind_path_(std::move(other.bind_path_)) {}

PrivateSocketPlace& PrivateSocketPlace::operator=(PrivateSocketPlace&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    dir_ = std::exchange(other.dir_, std::string());
    bind_path_ = std::move(other.bind_path_);
  }
  return *this;
}

void PrivateSocketPlace::Remove() {
  if (dir_.empty()) return;
  ::unlink(bind_path_.c_str());
  ::rmdir(dir_.c_str());
  dir_.clear();
}

Status PrivateSocketPlace::Publish() {
  if (dir_.empty()) return FailedPrecondition("publish " + path_ + ": nothing to publish");
  if (::chmod(bind_path_.c_str(), 0600) != 0) return ErrnoStatus(errno, "chmod", bind_path_);
  if (::rename(bind_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoStatus(errno, "rename socket to", path_);
  }
  ::rmdir(dir_.c_str());
  dir_.clear();
  return Status::Ok();
}

Result<UniqueFd> ListenPrivateUnixSocket(const std::string& path, int backlog, int flags) {
  ASSIGN_OR_RETURN(PrivateSocketPlace place, PrivateSocketPlace::Make(path));
  ASSIGN_OR_RETURN(UnixAddress addr, UnixSocketAddress(place.bind_path()));
  UniqueFd fd = UniqueFd::Adopt(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0));
  if (!fd.valid()) return ErrnoStatus(errno, "socket", path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr.addr), sizeof(addr.addr)) != 0) {
    return ErrnoStatus(errno, "bind", path);
  }
  if (::listen(fd.get(), backlog) != 0) return ErrnoStatus(errno, "listen", path);
  RETURN_IF_ERROR(place.Publish());
  return fd;
}

}  // namespace syspgo
