// SPDX-License-Identifier: Apache-2.0
#include "run/readiness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/file_util.h"

namespace syspgo::run {
namespace {

TEST(ReadinessTest, Parses) {
  EXPECT_EQ(ReadyCondition::Parse("exit")->kind, ReadyCondition::kExit);
  auto tcp = ReadyCondition::Parse("tcp:8080");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->port, 8080);
  EXPECT_EQ(tcp->ToString(), "tcp:8080");
  EXPECT_EQ(ReadyCondition::Parse("file:/run/ready")->path, "/run/ready");
  EXPECT_EQ(ReadyCondition::Parse("log:^ready$")->kind, ReadyCondition::kLog);
  for (const char* bad :
       {"tcp:", "tcp:0", "tcp:65536", "tcp:80x", "file:rel", "log:", "log:[", "http:80", "exitt"}) {
    EXPECT_FALSE(ReadyCondition::Parse(bad).ok()) << bad;
  }
}

TEST(ReadinessTest, LineMatcherWaitsForWholeLines) {
  auto c = ReadyCondition::Parse("log:^Ready to accept");
  ASSERT_TRUE(c.ok());
  LineMatcher m(c->regex);
  EXPECT_FALSE(m.Feed("booting\nRea"));
  EXPECT_FALSE(m.Feed("dy to acc"));
  EXPECT_TRUE(m.Feed("ept connections\r\n"));
  EXPECT_TRUE(m.Feed("more"));
}

TEST(ReadinessTest, TcpPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  EXPECT_FALSE(TcpPortAccepts(port));  // bound, not listening
  ASSERT_EQ(::listen(fd, 1), 0);
  EXPECT_TRUE(TcpPortAccepts(port));
  ::close(fd);
}

TEST(ReadinessTest, PathResolvesInsideTheRoot) {
  auto dir = TempDir::Create("/tmp", "ready-test-");
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(MakeDirs(JoinPath(dir->path(), "run")).ok());
  ASSERT_EQ(::symlink("/", JoinPath(dir->path(), "hostroot").c_str()), 0);
  int fd = ::open(dir->path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(PathExistsInRoot(fd, "/run"));
  EXPECT_FALSE(PathExistsInRoot(fd, "/run/ready"));
  // /etc/passwd exists on the host but not in this root: not followed out.
  EXPECT_FALSE(PathExistsInRoot(fd, "/hostroot/etc/passwd"));
  ::close(fd);
}

}  // namespace
}  // namespace syspgo::run
