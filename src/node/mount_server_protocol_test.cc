// SPDX-License-Identifier: Apache-2.0
// The mount server's lines: what the server writes the starter reads back
// with the same code and message; unknown codes and garbled lines are
// internal errors, not codes outside StatusCode; a message cannot add a
// line.
#include "node/mount_server_protocol.h"

#include <gtest/gtest.h>

namespace syspgo::node {
namespace {

std::string WithoutNewline(std::string s) {
  EXPECT_EQ(s.back(), '\n');
  s.pop_back();
  EXPECT_EQ(s.find('\n'), std::string::npos) << s;
  return s;
}

TEST(MountServerProtocolTest, EveryCodeRoundTrips) {
  for (int c = 1; c <= static_cast<int>(StatusCode::kResourceExhausted); ++c) {
    const Status st(static_cast<StatusCode>(c), "why: it failed");
    const ServerLine line = ParseServerLine(WithoutNewline(ErrorLine(st)));
    ASSERT_EQ(line.kind, ServerLine::kError);
    EXPECT_EQ(line.error.code(), st.code());
    EXPECT_EQ(line.error.message(), st.message());
  }
}

TEST(MountServerProtocolTest, MountedAndSettled) {
  EXPECT_EQ(ParseServerLine(WithoutNewline(MountedLine("r/a:1", "/m/mnt", "rtimage"))).kind,
            ServerLine::kMounted);
  EXPECT_EQ(MountedLine("r/a:1", "/m/mnt", "rtimage"), "mounted r/a:1 at /m/mnt (mode rtimage)\n");
  EXPECT_EQ(ParseServerLine(WithoutNewline(SettledLine())).kind, ServerLine::kSettled);
  EXPECT_EQ(ParseServerLine("log: something").kind, ServerLine::kOther);
}

TEST(MountServerProtocolTest, UnknownCodesAreInternal) {
  for (const char* bad : {"error 0 ok?", "error 14 past the end", "error 99 x", "error -1 x",
                          "error x y", "error ", "error 1000000000000 x"}) {
    const ServerLine line = ParseServerLine(bad);
    ASSERT_EQ(line.kind, ServerLine::kError) << bad;
    EXPECT_EQ(line.error.code(), StatusCode::kInternal) << bad;
    EXPECT_NE(line.error.message().find(bad), std::string::npos) << line.error.ToString();
  }
  // The real code of an internal error is read as one, message and all.
  const ServerLine internal =
      ParseServerLine(WithoutNewline(ErrorLine(Internal("cannot execute the mount server"))));
  EXPECT_EQ(internal.error.code(), StatusCode::kInternal);
  EXPECT_EQ(internal.error.message(), "cannot execute the mount server");
}

TEST(MountServerProtocolTest, AMessageCannotAddALine) {
  const std::string line = ErrorLine(NotFound("a\nmounted x at y (mode z)\r\n"));
  const ServerLine parsed = ParseServerLine(WithoutNewline(line));
  EXPECT_EQ(parsed.kind, ServerLine::kError);
  EXPECT_EQ(parsed.error.code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace syspgo::node
