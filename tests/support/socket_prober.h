// SPDX-License-Identifier: Apache-2.0
// File: tests/support/socket_prober.h
//
// Another user trying to connect to a Unix socket path, as fast as it can,
// for the tests of sockets that must be private from their first moment
// (common/unix_socket.h): a forked process, uid and gid nobody (65534),
// that connects to `path` in a loop and counts the connections it got.
// Root only (setuid).
#ifndef SYSPGO_TESTS_SUPPORT_SOCKET_PROBER_H_
#define SYSPGO_TESTS_SUPPORT_SOCKET_PROBER_H_

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace syspgo::testing {

class SocketProber {
 public:
  explicit SocketProber(const std::string& path) {
    int stop[2], count[2];
    if (::pipe(stop) != 0 || ::pipe(count) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(stop[1]);
      ::close(count[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
      uint64_t connected = 0, tries = 0;
      for (;;) {
        pollfd p{stop[0], POLLIN, 0};
        if ((++tries & 63) == 0 && ::poll(&p, 1, 0) != 0) break;
        // Non-blocking: a full backlog (nobody accepts) is EAGAIN, not a wait.
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) ::_exit(4);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) ++connected;
        ::close(fd);
      }
      const uint64_t out[2] = {connected, tries};
      if (::write(count[1], out, sizeof(out)) != sizeof(out)) ::_exit(5);
      ::_exit(0);
    }
    ::close(stop[0]);
    ::close(count[1]);
    stop_ = stop[1];
    count_ = count[0];
  }
  ~SocketProber() { Stop(); }
  SocketProber(const SocketProber&) = delete;
  SocketProber& operator=(const SocketProber&) = delete;

  bool started() const { return pid_ > 0; }
  // Stops it; the connections it got (and sets *tries to its attempts).
  uint64_t Stop(uint64_t* tries = nullptr) {
    if (pid_ <= 0) return result_[0];
    ::close(stop_);
    if (::read(count_, result_, sizeof(result_)) != sizeof(result_)) result_[0] = UINT64_MAX;
    ::close(count_);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
    if (tries) *tries = result_[1];
    return result_[0];
  }

 private:
  pid_t pid_ = -1;
  int stop_ = -1;
  int count_ = -1;
  uint64_t result_[2] = {0, 0};
};

}  // namespace syspgo::testing

#endif  // SYSPGO_TESTS_SUPPORT_SOCKET_PROBER_H_
