// SPDX-License-Identifier: Apache-2.0
// File: common/unix_socket.h
//
// Unix sockets that only their owner may connect to, from the first moment
// they exist. bind(2) makes the socket file with the process umask, so a
// chmod after it leaves a window in which anyone may connect (a daemon
// started with umask 000 was served to another user). Here the socket is
// bound inside a fresh 0700 directory beside its path, made 0600 there,
// and only then renamed to its path. No umask change (it is process-wide,
// and other threads create files meanwhile).
//
//   ASSIGN_OR_RETURN(UniqueFd fd, ListenPrivateUnixSocket(path, 16));
//
// For a server that binds its socket itself (gRPC's AddListeningPort):
//
//   ASSIGN_OR_RETURN(PrivateSocketPlace place, PrivateSocketPlace::Make(path));
//   builder.AddListeningPort("unix:" + place.bind_path(), ...);
//   ... BuildAndStart() ...
//   RETURN_IF_ERROR(place.Publish());
//
// Paths longer than sun_path are reached through their directory's fd.
#ifndef SYSPGO_COMMON_UNIX_SOCKET_H_
#define SYSPGO_COMMON_UNIX_SOCKET_H_

#include <sys/socket.h>
#include <sys/un.h>

#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace syspgo {

// A sockaddr_un for `path`; a path longer than sun_path is named through
// its directory's fd (/proc/self/fd/N/NAME), which `dir` keeps open.
struct UnixAddress {
  UniqueFd dir;
  sockaddr_un addr{};
};
Result<UnixAddress> UnixSocketAddress(const std::string& path);

// A listening SOCK_STREAM socket at `path` (an old socket there is
// replaced), mode 0600 from the start. `flags`: SOCK_NONBLOCK or 0.
Result<UniqueFd> ListenPrivateUnixSocket(const std::string& path, int backlog, int flags = 0);

// A place to bind a socket privately before it is published at `path`.
class PrivateSocketPlace {
 public:
  // Makes DIR/.sock-XXXXXX (0700) in `path`'s directory.
  static Result<PrivateSocketPlace> Make(const std::string& path);
  PrivateSocketPlace() = default;
  ~PrivateSocketPlace();
  PrivateSocketPlace(PrivateSocketPlace&& other) noexcept;
  PrivateSocketPlace& operator=(PrivateSocketPlace&& other) noexcept;
  PrivateSocketPlace(const PrivateSocketPlace&) = delete;
  PrivateSocketPlace& operator=(const PrivateSocketPlace&) = delete;

  // Where to bind: inside the private directory.
  const std::string& bind_path() const { return bind_path_; }
  // Makes the socket 0600, renames it to the path (replacing what is
  // there) and removes the private directory.
  Status Publish();

 private:
  void Remove();
  std::string path_;
  std::string dir_;
  std::string bind_path_;
};

}  // namespace syspgo

#endif  // SYSPGO_COMMON_UNIX_SOCKET_H_
