// SPDX-License-Identifier: Apache-2.0
#include "run/readiness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/file_util.h"
#include "common/unique_fd.h"

namespace syspgo::run {

Result<ReadyCondition> ReadyCondition::Parse(const std::string& text) {
  ReadyCondition c;
  if (text == "exit") return c;
  size_t colon = text.find(':');
  std::string kind = text.substr(0, colon);
  std::string arg = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (kind == "tcp") {
    if (arg.empty() || arg.size() > 5 || arg.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(arg) == 0 || std::stoul(arg) > 65535) {
      return InvalidArgument("--ready tcp:PORT needs a port 1-65535, got '" + arg + "'");
    }
    c.kind = kTcp;
    c.port = static_cast<uint16_t>(std::stoul(arg));
    return c;
  }
  if (kind == "file") {
    if (arg.empty() || arg.front() != '/') {
      return InvalidArgument("--ready file:PATH needs an absolute path, got '" + arg + "'");
    }
    c.kind = kFile;
    c.path = arg;
    return c;
  }
  if (kind == "log") {
    if (arg.empty()) return InvalidArgument("--ready log:REGEX needs a pattern");
    try {
      c.regex = std::make_shared<const std::regex>(arg, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument("--ready log: invalid regular expression '" + arg + "': " + e.what());
    }
    c.kind = kLog;
    c.pattern = arg;
    return c;
  }
  return InvalidArgument("unknown readiness condition '" + text +
                         "' (use exit, tcp:PORT, file:PATH or log:REGEX)");
}

std::string ReadyCondition::ToString() const {
  switch (kind) {
    case kExit:
      return "exit";
    case kTcp:
      return "tcp:" + std::to_string(port);
    case kFile:
      return "file:" + path;
    case kLog:
      return "log:" + pattern;
  }
  return "?";
}

bool TcpPortAccepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  UniqueFd owned = UniqueFd::Adopt(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

bool PathExistsInRoot(int rootfs_fd, const std::string& path) {
  return OpenInRoot(rootfs_fd, path, O_PATH).ok();
}

Result<std::string> ResolveInRoot(int rootfs_fd, const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenInRoot(rootfs_fd, path, O_PATH));
  ASSIGN_OR_RETURN(std::string root, FdPath(rootfs_fd));
  ASSIGN_OR_RETURN(std::string full, FdPath(fd.get()));
  if (full == root) return std::string("/");
  if (full.rfind(root + "/", 0) != 0) return Internal(path + " resolved outside the root");
  return full.substr(root.size());
}

bool LineMatcher::Feed(std::string_view data) {
  if (matched_) return true;
  partial_.append(data);
  size_t start = 0;
  for (;;) {
    size_t nl = partial_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string line = partial_.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    start = nl + 1;
    if (std::regex_search(line, *regex_)) {
      matched_ = true;
      break;
    }
  }
  partial_.erase(0, start);
  if (partial_.size() > (1 << 20)) partial_.clear();  // a runaway line
  return matched_;
}

}  // namespace syspgo::run
